// restic as the agent runs it: argv only (no shell), the password and S3 keys in the environment, an SFTP target
// through the system ssh with the target's host keys pinned in a file of their own. Outputs are restic's JSON.
import { spawn, type ChildProcess } from "node:child_process";
import { readdirSync, renameSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { writeAtomic } from "./atomic-write.ts";
import type { BackupJob, BackupKeep, BackupRepo, Snapshot } from "../contracts/backups.ts";
import { SYSTEM_ENV, systemBin } from "../runtime/system.ts";

export interface ResticRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Bytes the program wrote to stdout (binary output counts right; `stdout` is their UTF-8 reading). */
  bytes: number;
}

/** Repositories this agent has seen exist (made or opened): not asked again each run. */
const known = new Set<string>();

/** Pids of the restic processes this agent started (the newest thousand): only a lock one of them left is removed
 *  as stale (two machines may share a hostname, cloned from one image: a pid of the other is no pid here). */
const started = new Set<number>();
function startedOne(pid: number | undefined): void {
  if (pid === undefined) return;
  started.add(pid);
  if (started.size > 1000) started.delete(started.values().next().value!);
}

/** What every restic call of a job carries: the repository and how to reach it. */
export class Restic {
  /** The SFTP target's host keys are written (sshTo). */
  private pinned = false;
  constructor(
    private readonly job: BackupJob,
    /** This machine's backup state: the SSH key, the pinned host keys, restic's cache. */
    private readonly dir: string,
  ) {}

  private repository(): string {
    const r = this.job.repo;
    if (r.kind === "dir") return r.path;
    if (r.kind === "s3") return r.url;
    return `sftp:${r.user}@${r.host}:${r.path}`;
  }

  /** How ssh (restic's) and sftp (moveLeftovers') reach an SFTP target: our key, the pinned host keys (written
   *  here), no prompt ever; then the destination. */
  private sshTo(r: Extract<BackupRepo, { kind: "sftp" }>): string[] {
    const known = join(this.dir, `known_hosts-${r.host}`);
    // Once per run (its job's keys do not change within it), not once per restic or sftp it starts.
    if (!this.pinned) writeAtomic(known, r.hostKeys.map((k) => `${r.port === 22 ? r.host : `[${r.host}]:${r.port}`} ${k}\n`).join(""), { mode: 0o600 });
    this.pinned = true;
    return ["-i", join(this.dir, "id_ed25519"), "-o", `Port=${r.port}`, "-o", `UserKnownHostsFile=${known}`, "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-o", "ServerAliveInterval=15", `${r.user}@${r.host}`];
  }

  /** restic's options for SFTP: the system ssh, as sshTo says. */
  private sftpOptions(): string[] {
    const r = this.job.repo;
    if (r.kind !== "sftp") return [];
    return ["-o", `sftp.command=${[systemBin("ssh"), ...this.sshTo(r), "-s", "sftp"].join(" ")}`];
  }

  private env(): Record<string, string> {
    return { ...SYSTEM_ENV, ...this.job.env, HOME: this.dir, RESTIC_PASSWORD: this.job.password, RESTIC_REPOSITORY: this.repository(), RESTIC_CACHE_DIR: join(this.dir, "cache") };
  }

  /** Starts restic with `args`; stdin is the caller's when `stdin` is "pipe". */
  spawn(args: string[], stdin: "pipe" | "ignore" = "ignore"): ChildProcess {
    const child = spawn(systemBin("restic"), [...this.sftpOptions(), ...args], { env: this.env(), cwd: "/", stdio: [stdin, "pipe", "pipe"] });
    startedOne(child.pid);
    return child;
  }

  /** Runs restic and waits; a repository locked by another machine (an app's volumes are backed up from each of
   *  its machines into one repository) is waited for, up to about a minute. A stale lock (left by a restic of this
   *  machine that is gone: one that lost its target mid-run could not remove its lock) is removed first by
   *  `restic unlock`, which removes nothing else: before, every later run failed on it until someone ran unlock. */
  async run(args: string[]): Promise<ResticRun> {
    let unlocked = false;
    for (let n = 0; ; n++) {
      const r = await collect(this.spawn(args));
      if (r.code === 0 || n >= 30 || !/repository is already locked/.test(r.stderr)) return r;
      if (!unlocked && staleHere(r.stderr)) {
        unlocked = true;
        if ((await collect(this.spawn(["unlock"]))).code === 0) continue;
      }
      await new Promise((ok) => setTimeout(ok, 2000));
    }
  }

  /** Makes the repository on first use; an unreachable target is an error, not a new repository. Files where the
   *  repository was, without its config (a run under way when it was removed wrote on: data, index and snapshots
   *  under the old key, which would make the new repository unreadable, "ciphertext verification failed"), are
   *  moved aside first, never deleted. Returns where they went, if anywhere. */
  async ensure(): Promise<string | undefined> {
    if (known.has(this.repository())) return undefined;
    const cat = await this.run(["cat", "config"]);
    if (cat.code === 0) return void known.add(this.repository());
    if (!/unable to open config file|Is there a repository at the following location/i.test(cat.stderr)) throw new Error(lastLines(cat.stderr));
    const aside = await this.moveLeftovers();
    const init = await this.run(["init"]);
    if (init.code !== 0) throw new Error(lastLines(init.stderr));
    known.add(this.repository());
    return aside;
  }

  /** Moves what is left at the repository's place (when anything is) to `PATH.orphaned-TIME`; S3 prefixes stay. */
  private async moveLeftovers(): Promise<string | undefined> {
    const r = this.job.repo;
    if (r.kind === "s3") return undefined;
    const aside = `${r.path}.orphaned-${new Date().toISOString().replace(/\D/g, "").slice(0, 14)}`;
    // A `keys` directory: a repository being made (by another machine of the app, at the same time: restic writes
    // its config last) or one that lost only its config; left as it is, for restic to say.
    const leftovers = (names: string[]) => names.length > 0 && !names.includes("keys");
    if (r.kind === "dir") {
      try {
        if (!leftovers(readdirSync(r.path))) return undefined;
      } catch {
        return undefined;
      }
      renameSync(r.path, aside);
      return aside;
    }
    // Paths are the schema's; only plain characters go into sftp's batch (no space, quote or wildcard).
    if (!/^\/[A-Za-z0-9._\/@+-]*$/.test(r.path)) throw new Error(`a repository path sftp cannot be given: ${r.path}`);
    const ls = await this.sftp(`ls -1a "${r.path}"\n`);
    const names = ls.stdout.split("\n").filter((l) => l.trim() && !l.startsWith("sftp>")).map((l) => l.trim().replace(/^.*\//, "")).filter((n) => n !== "." && n !== "..");
    if (ls.code !== 0 || !leftovers(names)) return undefined;
    const mv = await this.sftp(`rename "${r.path}" "${aside}"\n`);
    if (mv.code !== 0) throw new Error(`files left where the repository was (${r.path}) could not be moved aside: ${lastLines(mv.stderr)}`);
    return aside;
  }

  /** One sftp batch on the target, through the same key and pinned host keys as restic's. */
  private sftp(batch: string): Promise<ResticRun> {
    const r = this.job.repo;
    if (r.kind !== "sftp") throw new Error("not an sftp repository");
    const child = spawn(systemBin("sftp"), ["-b", "-", ...this.sshTo(r)], { env: { ...SYSTEM_ENV, HOME: this.dir }, cwd: "/", stdio: ["pipe", "pipe", "pipe"] });
    child.stdin?.on("error", () => {});
    child.stdin?.end(batch);
    return collect(child);
  }

  /** After a failure: the next run asks again whether the repository is there (it may have been removed). */
  unknown(): void {
    known.delete(this.repository());
  }

  async snapshots(tags: string[]): Promise<Snapshot[]> {
    const r = await this.run(["snapshots", "--json", ...tags.flatMap((t) => ["--tag", t])]);
    if (r.code !== 0) throw new Error(`restic snapshots failed: ${lastLines(r.stderr)}`);
    const list = JSON.parse(r.stdout || "[]") as { id: string; time: string; hostname: string; tags?: string[]; paths?: string[] }[];
    return list.map((s) => ({ id: s.id, time: s.time, host: s.hostname, tags: s.tags ?? [], paths: s.paths ?? [] }));
  }

  /** The retention policy over this job's snapshots (its tag), per machine (an app's volumes are backed up on each
   *  of its machines: one machine's newest must not push out another's), then their data pruned; returns how many went. */
  async forget(tag: string, keep: BackupKeep): Promise<number> {
    const r = await this.run(["forget", "--json", "--prune", "--tag", tag, "--group-by", "host,tags", ...keepArgs(keep)]);
    if (r.code !== 0) throw new Error(`restic forget (the retention policy) failed: ${lastLines(r.stderr)}`);
    const groups = JSON.parse(r.stdout.split("\n").find((l) => l.startsWith("[")) ?? "[]") as { remove?: unknown[] | null }[];
    return groups.reduce((n, g) => n + (g.remove?.length ?? 0), 0);
  }
}

/** restic's "locked by PID N on HOST" names a restic this agent started on this machine, gone now (its lock is stale). */
export function staleHere(stderr: string, host = hostname(), alive = (pid: number) => processAlive(pid), ours = (pid: number) => started.has(pid)): boolean {
  const m = /already locked (?:exclusively )?by PID (\d+) on (\S+) /.exec(stderr);
  return Boolean(m && m[2] === host && ours(Number(m[1])) && !alive(Number(m[1])));
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

export function keepArgs(k: BackupKeep): string[] {
  const out: string[] = [];
  for (const [key, flag] of [["last", "--keep-last"], ["daily", "--keep-daily"], ["weekly", "--keep-weekly"], ["monthly", "--keep-monthly"]] as const) {
    if (k[key]) out.push(flag, String(k[key]));
  }
  // restic refuses a forget with no policy; keeping nothing is never what a backup means.
  return out.length ? out : ["--keep-last", "1"];
}

/** Waits for a program and gathers what it wrote. `piped`: its stdout is piped elsewhere (a dump into restic), left
 *  untouched here: a reader that decoded it as text would corrupt binary data on its way. */
export function collect(child: ChildProcess, opts: { piped?: boolean } = {}): Promise<ResticRun> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let stderr = "";
    if (!opts.piped) child.stdout?.on("data", (d: Buffer) => chunks.push(d));
    child.stderr?.setEncoding("utf8").on("data", (d: string) => (stderr = (stderr + d).slice(-20_000)));
    const done = (code: number | null, extra = "") => {
      const out = Buffer.concat(chunks);
      resolve({ code, stdout: out.toString("utf8"), stderr: stderr + extra, bytes: out.length });
    };
    child.on("error", (e) => done(null, e.message));
    child.on("close", (code) => done(code));
  });
}

/** restic's last lines, for a reason: its errors say which file or which host. A Go stack trace after the error
 *  ("Error loading snapshot …: ciphertext verification failed", then frames) is left out: the error is the reason. */
export function lastLines(s: string, n = 4): string {
  const lines = s.trim().split("\n");
  const frame = lines.findIndex((l, i) => i > 0 && /^\t\S+\.(go|s):\d+/.test(l));
  return (frame > 0 ? lines.slice(0, frame - 1) : lines).slice(-n).join("; ") || "restic failed without a message";
}

/** The summary line of `restic backup --json`. */
export function backupSummary(stdout: string): { snapshot: string; bytes: number; added: number } | undefined {
  for (const line of stdout.split("\n").reverse()) {
    if (!line.includes('"summary"')) continue;
    try {
      const s = JSON.parse(line) as { message_type?: string; snapshot_id?: string; total_bytes_processed?: number; data_added?: number };
      if (s.message_type === "summary" && s.snapshot_id) return { snapshot: s.snapshot_id, bytes: s.total_bytes_processed ?? 0, added: s.data_added ?? 0 };
    } catch {}
  }
  return undefined;
}
