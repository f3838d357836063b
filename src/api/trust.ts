// Machines' SSH host keys: scan each, compare with the project's
// .skiff/known_hosts (committed, so the team shares it) and record new ones.
// A key that differs from the recorded one is refused unless `replace`.
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { MachineSpec, Project } from "../config/model.ts";
import { UserError } from "../errors.ts";
import { runProcess } from "../transport/process.ts";
import { relevantStderr } from "../transport/remote-error.ts";
import { trustScanArgv } from "../transport/ssh-args.ts";
import { knownHostsFile, sshContext } from "../transport/connect.ts";
import { selectMachines } from "./machines.ts";

export interface TrustOptions {
  machines?: string[];
  /** Record new keys without asking. */
  yes?: boolean;
  /** Replace a recorded key that changed (after checking it out of band). */
  replace?: boolean;
  /** Asked for each new key when `yes` is not given; without it, a new key is an error. */
  confirm?: (question: string) => Promise<boolean>;
}

export interface TrustResult {
  machine: string;
  /** local: no host key needed; changed: differs from the recorded key, refused without `replace`; declined: `confirm` said no. */
  result: "local" | "already" | "trusted" | "replaced" | "changed" | "declined";
  /** known_hosts pattern, e.g. [127.0.0.1]:2201 */
  pattern?: string;
  fingerprints: string[];
}

interface Seen {
  lines: string[];
  pattern: string;
  fingerprints: string[];
}

async function scan(m: MachineSpec, project: Project): Promise<Seen> {
  const dir = mkdtempSync(join(tmpdir(), "skiff-trust-"));
  const file = join(dir, "known_hosts");
  try {
    // Authentication may fail (a key not yet authorized): the host key is recorded before that.
    const res = await runProcess("ssh", trustScanArgv(m, sshContext(project), file), { timeoutMs: 30_000 });
    const lines = existsSync(file) ? readFileSync(file, "utf8").split("\n").filter((l) => l.trim()) : [];
    if (!lines.length) throw new UserError(`${m.name}: could not read a host key from ${m.host}${m.port ? `:${m.port}` : ""}\n${relevantStderr(res.stderr).map((l) => `  │ ${l}`).join("\n")}`, { hint: "check host and port, and that sshd runs" });
    const fp = await runProcess("ssh-keygen", ["-l", "-f", file]);
    return { lines, pattern: lines[0]!.split(" ")[0]!, fingerprints: fp.stdout.split("\n").filter(Boolean).map((l) => l.split(" ").filter((_, i) => i === 1 || i === 3).join(" ")) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function recorded(file: string, pattern: string): Promise<string[]> {
  if (!existsSync(file)) return [];
  const res = await runProcess("ssh-keygen", ["-F", pattern, "-f", file]);
  return res.stdout.split("\n").filter((l) => l && !l.startsWith("#"));
}

const keyOf = (line: string) => line.split(" ").slice(1, 3).join(" ");

export async function trustMachines(project: Project, opts: TrustOptions = {}): Promise<TrustResult[]> {
  const file = knownHostsFile(project);
  const out: TrustResult[] = [];
  for (const m of selectMachines(project, opts.machines)) {
    if (m.local) {
      out.push({ machine: m.name, result: "local", fingerprints: [] });
      continue;
    }
    const seen = await scan(m, project);
    const have = await recorded(file, seen.pattern);
    const fp = seen.fingerprints.join(", ");
    const base = { machine: m.name, pattern: seen.pattern, fingerprints: seen.fingerprints };
    if (have.length && seen.lines.every((l) => have.some((h) => keyOf(h) === keyOf(l)))) {
      out.push({ ...base, result: "already" });
      continue;
    }
    if (have.length && !opts.replace) {
      out.push({ ...base, result: "changed" });
      continue;
    }
    if (!opts.yes) {
      if (!opts.confirm) throw new UserError(`${m.name}: new host key ${fp} for ${seen.pattern}; not recorded`, { hint: "check the fingerprint, then pass --yes to record it" });
      if (!(await opts.confirm(`${m.name} (${seen.pattern}) presents ${fp}. Trust it? [y/N] `))) {
        out.push({ ...base, result: "declined" });
        continue;
      }
    }
    mkdirSync(dirname(file), { recursive: true });
    if (have.length) {
      await runProcess("ssh-keygen", ["-R", seen.pattern, "-f", file]);
      rmSync(`${file}.old`, { force: true });
    }
    appendFileSync(file, seen.lines.join("\n") + "\n", { mode: 0o644 });
    out.push({ ...base, result: have.length ? "replaced" : "trusted" });
  }
  return out;
}
