// skiff machines trust [machine…]: show each machine's host key fingerprint and
// record it in the project's .skiff/known_hosts (committed, so the team shares it).
// A key that differs from the recorded one is refused unless --replace.
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline/promises";
import type { MachineSpec } from "../config/model.ts";
import { UserError } from "../errors.ts";
import { runProcess } from "../transport/process.ts";
import { relevantStderr } from "../transport/remote-error.ts";
import { trustScanArgv } from "../transport/ssh-args.ts";
import { knownHostsFile, sshContext } from "../transport/connect.ts";
import { selectMachines, type Ctx } from "./context.ts";

interface Seen {
  /** known_hosts lines as ssh wrote them for this machine. */
  lines: string[];
  /** "host pattern" used in known_hosts, e.g. [127.0.0.1]:2201 */
  pattern: string;
  fingerprints: string[];
}

async function scan(m: MachineSpec, ctx: Ctx): Promise<Seen> {
  const dir = mkdtempSync(join(tmpdir(), "skiff-trust-"));
  const file = join(dir, "known_hosts");
  try {
    // Authentication may fail (a key not yet authorized): the host key is recorded before that.
    const res = await runProcess("ssh", trustScanArgv(m, sshContext(ctx.project), file), { timeoutMs: 30_000 });
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

async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

export async function trustCommand(ctx: Ctx, names: string[], opts: { replace?: boolean; yes?: boolean }): Promise<number> {
  const file = knownHostsFile(ctx.project);
  let refused = 0;
  for (const m of selectMachines(ctx.project, names)) {
    if (m.local) {
      ctx.out(`${m.name}: local machine, no host key needed`);
      continue;
    }
    const seen = await scan(m, ctx);
    const have = await recorded(file, seen.pattern);
    const fp = seen.fingerprints.join(", ");
    const same = seen.lines.every((l) => have.some((h) => keyOf(h) === keyOf(l)));
    if (have.length && same) {
      ctx.out(`${m.name}: already trusted (${fp})`);
      continue;
    }
    if (have.length && !opts.replace) {
      process.stderr.write(`${m.name}: HOST KEY CHANGED for ${seen.pattern}: now ${fp}; .skiff/known_hosts has a different key.\n  If the machine was rebuilt, check this fingerprint on the machine (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), then run \`skiff machines trust ${m.name} --replace\`.\n`);
      refused++;
      continue;
    }
    if (!opts.yes) {
      if (!process.stdin.isTTY) throw new UserError(`${m.name}: new host key ${fp} for ${seen.pattern}; not recorded`, { hint: "check the fingerprint, then pass --yes to record it" });
      if (!(await confirm(`${m.name} (${seen.pattern}) presents ${fp}. Trust it? [y/N] `))) {
        refused++;
        continue;
      }
    }
    mkdirSync(dirname(file), { recursive: true });
    if (have.length) {
      await runProcess("ssh-keygen", ["-R", seen.pattern, "-f", file]);
      rmSync(`${file}.old`, { force: true });
    }
    appendFileSync(file, seen.lines.join("\n") + "\n", { mode: 0o644 });
    ctx.out(`${m.name}: ${have.length ? "replaced" : "trusted"} ${fp}`);
  }
  return refused ? 1 : 0;
}
