// Instances as plain processes, supervised by the agent. Each instance is a
// small sh wrapper (its own session, so a stop signals the whole process group)
// that joins the instance's cgroups, runs the app in the foreground as the
// app's user and records the exit code. Instances outlive an agent restart;
// the agent finds them again from their pid file.
//
//   <state>/instances/<name>/instance.json   how to (re)start it (0600: it holds the env)
//                            run.sh, command  the wrapper and the app's command line
//                            pid              "<pid> <start time>" of the wrapper
//                            exit             the app's exit code, once it ended
//                            out.log[.1-3]    stdout and stderr, rotated by size
//   <state>/artifacts/<sha256>/              unpacked artifacts, shared by releases
//   <state>/work/<project>/<app>/<release>/  each release's own working directory
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, chownSync, closeSync, copyFileSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, renameSync, rmdirSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { hashTree } from "../build/artifact.ts";
import { quote } from "../transport/quote.ts";
import { createCgroup, oomKills, pidsIn, removeCgroup, type InstanceCgroup, type Limits } from "./cgroup.ts";
import type { InstanceStatus, Runtime, StartSpec } from "./types.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const LOG_MAX_BYTES = 10 * 1024 * 1024;
const LOG_FILES = 3;
const PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

interface InstanceFile {
  name: string;
  command: string;
  workdir: string;
  env: Record<string, string>;
  labels: Record<string, string>;
  hostPort: number;
  user?: { name: string; uid: number; gid: number };
  limits: Limits;
  cgroup: InstanceCgroup;
  oomBase: number;
  startedAt?: string;
}

/** "artifact:<sha256 hex>" names an artifact; "none" runs the command in an empty directory. */
export function artifactHash(image: string): string | undefined {
  const m = /^artifact:([0-9a-f]{64})$/.exec(image);
  return m?.[1];
}

function lookupUser(name: string): { name: string; uid: number; gid: number } {
  for (const line of readFileSync("/etc/passwd", "utf8").split("\n")) {
    const f = line.split(":");
    if (f[0] === name) return { name, uid: Number(f[2]), gid: Number(f[3]) };
  }
  throw new Error(`user "${name}" does not exist on this machine (create it, or set user: in skiff.yml)`);
}

/** Start time of a live (not zombie) process, in clock ticks since boot; undefined when it is gone. */
function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (fields[0] === "Z" || fields[0] === "X") return undefined;
    return fields[19];
  } catch {
    return undefined;
  }
}

/** Some live process of this process group (the instance's wrapper leads it), even after the wrapper is gone. */
function groupAlive(pgid: number): boolean {
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(f[2]) === pgid && f[0] !== "Z" && f[0] !== "X") return true;
    } catch {}
  }
  return false;
}

/** A plain command ("node server.js") runs with exec, so the app itself is the wrapper's child and gets signals first-hand. */
export function execPrefix(command: string): string {
  const simple = !/[;&|<>(){}`\n]/.test(command) && !/^\s*(cd|export|set|\.|source|exec|[A-Za-z_][A-Za-z0-9_]*=)\b/.test(command);
  return simple ? `exec ${command}` : command;
}

export class ProcessRuntime implements Runtime {
  constructor(readonly base: string) {}

  private dir(name: string): string {
    return join(this.base, "instances", name);
  }

  private read(name: string): InstanceFile | undefined {
    try {
      return JSON.parse(readFileSync(join(this.dir(name), "instance.json"), "utf8")) as InstanceFile;
    } catch {
      return undefined;
    }
  }

  private save(f: InstanceFile): void {
    const file = join(this.dir(f.name), "instance.json");
    writeFileSync(`${file}.tmp`, JSON.stringify(f, null, 2), { mode: 0o600 });
    renameSync(`${file}.tmp`, file);
  }

  /** The wrapper's pid while it runs. */
  private pid(name: string): number | undefined {
    try {
      const [pid, start] = readFileSync(join(this.dir(name), "pid"), "utf8").trim().split(" ");
      return startTime(Number(pid)) === start ? Number(pid) : undefined;
    } catch {
      return undefined;
    }
  }

  /** The instance's process group id while any of its processes lives (the app may outlive its wrapper). */
  private group(name: string): number | undefined {
    const live = this.pid(name);
    if (live) return live;
    try {
      const pid = Number(readFileSync(join(this.dir(name), "pid"), "utf8").split(" ")[0]);
      return pid && groupAlive(pid) ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  /** The release's own working directory: a copy of its artifact, made once. */
  private workdir(spec: StartSpec, user: InstanceFile["user"]): string {
    const dir = join(this.base, "work", spec.labels["skiff.project"] ?? "_", spec.labels["skiff.app"] ?? "_", spec.labels["skiff.release"] ?? "0");
    if (existsSync(dir)) return dir;
    const tmp = `${dir}.tmp-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(join(tmp, ".."), { recursive: true });
    const hash = artifactHash(spec.image);
    if (hash) {
      const res = spawnSync("cp", ["-a", "--", join(this.base, "artifacts", hash), tmp], { encoding: "utf8" });
      if (res.status !== 0) throw new Error(`cannot copy artifact ${hash.slice(0, 12)}: ${res.stderr.trim()}`);
    } else mkdirSync(tmp);
    if (user && user.uid !== process.getuid?.()) {
      const res = spawnSync("chown", ["-R", `${user.uid}:${user.gid}`, "--", tmp], { encoding: "utf8" });
      if (res.status !== 0) throw new Error(`cannot give the working directory to ${user.name}: ${res.stderr.trim()}`);
    }
    renameSync(tmp, dir);
    return dir;
  }

  /** Files are copied into the working directory; a volume is a directory of its own, linked at its path. */
  private placeFilesAndVolumes(s: StartSpec, workdir: string, user: InstanceFile["user"]): void {
    const own = (path: string) => {
      if (user && user.uid !== process.getuid?.()) chownSync(path, user.uid, user.gid);
    };
    for (const f of s.files ?? []) {
      const target = join(workdir, f.path);
      mkdirSync(dirname(target), { recursive: true });
      copyFileSync(f.hostPath, target);
      chmodSync(target, f.mode);
      own(target);
    }
    for (const v of s.volumes ?? []) {
      const dir = join(this.base, "volumes", s.labels["skiff.project"] ?? "_", s.labels["skiff.app"] ?? "_", v.name);
      if (!existsSync(dir)) {
        mkdirSync(dirname(dir), { recursive: true, mode: 0o755 }); // parents must stay traversable for the app's user
        mkdirSync(dir, { mode: 0o750 });
        own(dir);
      }
      const link = join(workdir, v.path);
      let current: string | undefined;
      try {
        current = readlinkSync(link);
      } catch {}
      if (current === dir) continue;
      rmSync(link, { recursive: true, force: true });
      mkdirSync(dirname(link), { recursive: true });
      symlinkSync(dir, link);
    }
  }

  async start(s: StartSpec): Promise<void> {
    if (!s.command) throw new Error("a process instance needs a command (run:)");
    if (!(await this.hasImage(s.image))) throw new Error(`artifact ${s.image} is not on this machine`);
    const asRoot = process.getuid?.() === 0;
    const user = asRoot && s.user && s.user !== "root" ? lookupUser(s.user) : undefined;
    const dir = this.dir(s.name);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const workdir = this.workdir(s, user);
    this.placeFilesAndVolumes(s, workdir, user);
    const cgroup = createCgroup(s.name, s.limits ?? {});
    const env = { PATH, HOME: workdir, ...s.env, PORT: String(s.hostPort), HOST: s.bindAddress };
    const f: InstanceFile = { name: s.name, command: s.command, workdir, env, labels: s.labels, hostPort: s.hostPort, user, limits: s.limits ?? {}, cgroup, oomBase: oomKills(cgroup.dirs) };
    writeFileSync(join(dir, "command"), execPrefix(s.command), { mode: 0o644 });
    const runAs = user ? `setpriv --reuid=${user.uid} --regid=${user.gid} --clear-groups -- ` : "";
    writeFileSync(
      join(dir, "run.sh"),
      [
        "#!/bin/sh",
        `# skiff instance ${s.name}: joins its cgroups, runs the app in the foreground, records its exit code.`,
        ...cgroup.procs.map((p) => `echo $$ > ${quote(p)} || echo "skiff: could not join ${p}" >&2`),
        `rm -f ${quote(join(dir, "exit"))}`,
        // A handler (not "ignore") so the wrapper outlives a TERM to the group while children get the default.
        "trap : TERM INT HUP",
        `${runAs}/bin/sh -c "$(cat ${quote(join(dir, "command"))})"`,
        "code=$?",
        `echo "$code" > ${quote(join(dir, "exit.tmp"))} && mv ${quote(join(dir, "exit.tmp"))} ${quote(join(dir, "exit"))}`,
        "",
      ].join("\n"),
      { mode: 0o700 },
    );
    this.save(f);
    this.launch(f);
  }

  private launch(f: InstanceFile): void {
    const dir = this.dir(f.name);
    rmSync(join(dir, "exit"), { force: true });
    const log = openSync(join(dir, "out.log"), "a", 0o640);
    try {
      const child = spawn("/bin/sh", [join(dir, "run.sh")], { cwd: f.workdir, env: f.env, detached: true, stdio: ["ignore", log, log] });
      if (!child.pid) throw new Error(`could not start ${f.name}`);
      child.on("error", () => {});
      child.unref();
      const start = startTime(child.pid);
      writeFileSync(join(dir, "pid"), `${child.pid} ${start ?? "?"}\n`);
      f.startedAt = new Date().toISOString();
      f.oomBase = oomKills(f.cgroup.dirs);
      this.save(f);
    } finally {
      closeSync(log);
    }
  }

  async restart(name: string): Promise<void> {
    const f = this.read(name);
    if (!f) throw new Error(`no instance ${name}`);
    if (this.group(name)) return;
    // The cgroup may be gone (a reboot): create it again with the same limits.
    if (f.cgroup.dirs.some((d) => !existsSync(d))) f.cgroup = createCgroup(name, f.limits);
    this.launch(f);
  }

  async stop(name: string, timeoutS: number): Promise<void> {
    const f = this.read(name);
    const pgid = this.group(name);
    if (pgid) {
      try {
        process.kill(-pgid, "SIGTERM");
      } catch {}
      // Stopped means every process of the group is gone, not only the wrapper.
      const until = Date.now() + timeoutS * 1000;
      while (this.group(name) && Date.now() < until) await sleep(50);
      if (this.group(name)) {
        try {
          process.kill(-pgid, "SIGKILL");
        } catch {}
      }
    }
    // Whatever left the process group but not the cgroup goes too.
    if (f) for (const p of pidsIn(f.cgroup.dirs)) try { process.kill(p, "SIGKILL"); } catch {}
    const until = Date.now() + 5000;
    while (this.group(name) && Date.now() < until) await sleep(20);
  }

  async remove(name: string): Promise<void> {
    const f = this.read(name);
    if (this.group(name) || (f && pidsIn(f.cgroup.dirs).length)) await this.stop(name, 0);
    if (f) removeCgroup(f.cgroup.dirs);
    rmSync(this.dir(name), { recursive: true, force: true });
  }

  async status(name: string): Promise<InstanceStatus> {
    const f = this.read(name);
    if (!f) return { exists: false, running: false, exitCode: null, oomKilled: false };
    const running = this.group(name) !== undefined;
    let exitCode: number | null = null;
    let finishedAt: string | undefined;
    if (!running) {
      try {
        const file = join(this.dir(name), "exit");
        exitCode = Number(readFileSync(file, "utf8").trim());
        finishedAt = statSync(file).mtime.toISOString();
      } catch {
        exitCode = f.startedAt ? 137 : null; // the wrapper itself was killed (SIGKILL to the group)
      }
    }
    const oomKilled = oomKills(f.cgroup.dirs) > f.oomBase;
    return { exists: true, running, exitCode, oomKilled, startedAt: f.startedAt, finishedAt, note: f.cgroup.note };
  }

  async logs(name: string, lines: number): Promise<string> {
    const dir = this.dir(name);
    let out: string[] = [];
    for (const file of ["out.log", "out.log.1"]) {
      try {
        const text = readFileSync(join(dir, file), "utf8").split("\n");
        if (text.at(-1) === "") text.pop();
        out = [...text, ...out];
      } catch {}
      if (out.length >= lines) break;
    }
    return out.slice(-lines).join("\n");
  }

  async list(labels: Record<string, string>): Promise<string[]> {
    let names: string[] = [];
    try {
      names = readdirSync(join(this.base, "instances"));
    } catch {}
    return names.filter((n) => {
      const f = this.read(n);
      return f && Object.entries(labels).every(([k, v]) => f.labels[k] === v);
    });
  }

  async hasImage(image: string): Promise<boolean> {
    if (image === "none") return true;
    const hash = artifactHash(image);
    return hash !== undefined && existsSync(join(this.base, "artifacts", hash));
  }

  async removeImage(image: string): Promise<void> {
    const hash = artifactHash(image);
    if (hash) rmSync(join(this.base, "artifacts", hash), { recursive: true, force: true });
  }

  async dropRelease(project: string, app: string, release: number): Promise<void> {
    rmSync(join(this.base, "work", project, app, String(release)), { recursive: true, force: true });
    for (const dir of [join(this.base, "work", project, app), join(this.base, "work", project)]) {
      try {
        rmdirSync(dir); // only when empty
      } catch {}
    }
  }

  /** Rotates logs by size (copy, then truncate: the wrapper keeps its O_APPEND descriptor). */
  async maintain(): Promise<void> {
    let names: string[] = [];
    try {
      names = readdirSync(join(this.base, "instances"));
    } catch {}
    for (const n of names) {
      const log = join(this.dir(n), "out.log");
      try {
        if (statSync(log).size < LOG_MAX_BYTES) continue;
        for (let i = LOG_FILES - 1; i >= 1; i--) if (existsSync(`${log}.${i}`)) renameSync(`${log}.${i}`, `${log}.${i + 1}`);
        writeFileSync(`${log}.1`, readFileSync(log));
        chmodSync(`${log}.1`, 0o640);
        writeFileSync(log, "");
      } catch {}
    }
  }
}

/** Unpacks a tar.gz from stdin into <state>/artifacts/<sha256>, checking that the content has that hash. */
export async function artifactPut(base: string, hash: string): Promise<void> {
  if (!/^[0-9a-f]{64}$/.test(hash)) throw new Error("artifact-put needs the artifact's sha256");
  const dest = join(base, "artifacts", hash);
  if (existsSync(dest)) {
    process.stdin.resume();
    return;
  }
  const tmp = join(base, "artifacts", `.tmp-${hash.slice(0, 12)}-${process.pid}`);
  mkdirSync(tmp, { recursive: true, mode: 0o755 });
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      const tar = spawn("tar", ["-xzf", "-", "--no-same-owner", "-C", tmp], { stdio: ["inherit", "inherit", "inherit"] });
      tar.on("error", reject);
      tar.on("close", resolve);
    });
    if (code !== 0) throw new Error(`tar exited with ${code} while unpacking the artifact`);
    const got = hashTree(tmp);
    if (got !== hash) throw new Error(`the artifact arrived with content hash ${got.slice(0, 12)}, not ${hash.slice(0, 12)}`);
    renameSync(tmp, dest);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
