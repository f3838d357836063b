// Instances as plain processes, supervised by the agent. Each instance is a
// small sh wrapper (its own session, so a stop signals the whole process group)
// that joins the instance's cgroups, runs the app in the foreground as the
// app's user (its own, skiff_<project>_<app>, unless skiff.yml names one) and
// records the exit code. Instances outlive an agent restart; the agent finds
// them again from their pid file. The wrapper runs nothing of the app's as root
// (see wrapper.ts); which processes are the instance's: instance-procs.ts.
// The supervisor asks for every instance's status once per health interval:
// a wrapper this agent started and saw no 'exit' of is running without a look
// at a file, and instance.json and the pid file, which only this runtime
// writes, are read once (see `status`).
//
//   <state>/instances/<name>/                root's (0700): the app cannot read its env or touch its log
//                            instance.json   how to (re)start it (0600: it holds the env)
//                            run.sh          the wrapper (rewritten at each start)
//                            env.sh          the app's env and command, read by the app's user from a descriptor (0600)
//                            pid              "<pid> <start time> <boot id>" of the wrapper
//                            exit             the app's exit code, once it ended
//                            out.log[.1-3]    stdout and stderr, rotated by size
//   <state>/artifacts/<sha256>/              unpacked artifacts (root's, 0700), one copy each
//   <state>/work/<project>/<app>/<release>/  each release's working directory: hard links to its artifact's
//                                            files, the app's own directories and files (see workdir.ts)
import { spawn, type ChildProcess } from "node:child_process";
import { copyFile } from "node:fs/promises";
import { chmodSync, closeSync, existsSync, fstatSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmdirSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { hashTree } from "../contracts/artifact.ts";
import { createCgroup, oomKills, removeCgroup, type InstanceCgroup, type Limits } from "./cgroup.ts";
import { instanceRunning, signalInstance, type InstanceRef } from "./instance-procs.ts";
import { liveProcess, processIdentity, procStat } from "./procfs.ts";
import { APP_PATH, runSystem, SYSTEM_ENV, systemBin } from "./system.ts";
import { ensureAppUser, lookupUser, type AppUser } from "./users.ts";
import { placeFilesAndVolumes, projectApp, releaseWorkdir } from "./workdir.ts";
import { envScript, wrapperScript } from "./wrapper.ts";
import type { InstanceStatus, Runtime, StartSpec } from "./types.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const LOG_MAX_BYTES = 10 * 1024 * 1024;
const LOG_FILES = 3;

interface InstanceFile {
  name: string;
  command: string;
  workdir: string;
  env: Record<string, string>;
  labels: Record<string, string>;
  hostPort: number;
  user?: AppUser;
  limits: Limits;
  cgroup: InstanceCgroup;
  oomBase: number;
  startedAt?: string;
  /** Sent first by `stop` (default SIGTERM). */
  stopSignal?: NodeJS.Signals;
}

/** "artifact:<sha256 hex>" names an artifact; "none" runs the command in an empty directory. */
export function artifactHash(image: string): string | undefined {
  const m = /^artifact:([0-9a-f]{64})$/.exec(image);
  return m?.[1];
}

/** A plain command ("node server.js") runs with exec, so the app itself is the wrapper's child and gets signals first-hand. */
export function execPrefix(command: string): string {
  const simple = !/[;&|<>(){}`\n]/.test(command) && !/^\s*(cd|export|set|unset|\.|source|exec|exit|eval|trap|ulimit|umask|wait|[A-Za-z_][A-Za-z0-9_]*=)\b/.test(command);
  return simple ? `exec ${command}` : command;
}

export class ProcessRuntime implements Runtime {
  /** instance.json as last written or read: only this runtime writes it, so it is read once. */
  private readonly files = new Map<string, InstanceFile>();
  /** The wrapper's identity (its pid file's content), likewise. */
  private readonly wrappers = new Map<string, string>();
  /** Wrappers this runtime started that have not exited yet: running, no /proc to read. */
  private readonly children = new Map<string, ChildProcess>();

  private onExit?: (name: string) => void;

  constructor(readonly base: string) {}

  /** As placeFilesAndVolumes (workdir.ts) makes them. */
  async volumePath(project: string, app: string, name: string): Promise<string> {
    return join(this.base, "volumes", project, app, name);
  }

  /** A wrapper this runtime started is its child: its exit is an event (the supervisor looks at it at once). */
  watchExits(onExit: (name: string) => void): void {
    this.onExit = onExit;
  }

  /** Its wrapper is this agent's child (an instance started by an earlier agent is not: it is looked at instead). */
  exitsWatched(name: string): boolean {
    return this.onExit !== undefined && this.children.has(name);
  }

  private dir(name: string): string {
    return join(this.base, "instances", name);
  }

  private read(name: string): InstanceFile | undefined {
    const known = this.files.get(name);
    if (known) return known;
    try {
      const f = JSON.parse(readFileSync(join(this.dir(name), "instance.json"), "utf8")) as InstanceFile;
      this.files.set(name, f);
      return f;
    } catch {
      return undefined;
    }
  }

  private save(f: InstanceFile): void {
    const file = join(this.dir(f.name), "instance.json");
    writeFileSync(`${file}.tmp`, JSON.stringify(f, null, 2), { mode: 0o600 });
    renameSync(`${file}.tmp`, file);
    this.files.set(f.name, f);
  }

  private forget(name: string): void {
    this.files.delete(name);
    this.wrappers.delete(name);
    this.children.delete(name);
  }

  private ref(f: InstanceFile): InstanceRef {
    return { name: f.name, dir: this.dir(f.name), cgroupDirs: f.cgroup.dirs };
  }

  /** Cheapest first: our own child that has not exited; the wrapper by its identity (one read of /proc/<pid>/stat);
   *  then every process of the instance (the app may outlive its wrapper). */
  private running(f: InstanceFile): boolean {
    // Our own child, unless it already died and its exit has not reached the event loop yet (another runtime may
    // have stopped it: it is then a zombie, not live, until Node reaps it).
    const child = this.children.get(f.name);
    if (child?.pid !== undefined && procStat(child.pid)?.live) return true;
    if (!this.wrappers.has(f.name)) {
      try {
        this.wrappers.set(f.name, readFileSync(join(this.dir(f.name), "pid"), "utf8"));
      } catch {}
    }
    const wrapper = this.wrappers.get(f.name);
    if (wrapper !== undefined && liveProcess(wrapper) !== undefined) return true;
    return instanceRunning(this.ref(f));
  }

  private signal(f: InstanceFile, sig: NodeJS.Signals): void {
    signalInstance(this.ref(f), sig);
  }

  /** The user the app runs as: its own (made on first use) unless skiff.yml names one; none when we are not root. */
  private user(s: StartSpec): AppUser | undefined {
    if (process.getuid?.() !== 0 || s.user === "root") return undefined;
    if (!s.user) return ensureAppUser(...projectApp(s.labels));
    const u = lookupUser(s.user);
    if (!u) throw new Error(`user "${s.user}" does not exist on this machine (create it, or leave user: out of skiff.yml for a user of the app's own)`);
    return u;
  }

  async start(s: StartSpec): Promise<void> {
    this.launch(await this.prepare(s));
  }

  /**
   * A one-off run with this process's stdio (skiff run, through `skiff-agent run`); resolves with its exit code.
   * The caller removes the instance after. On a terminal the wrapper stays in our (foreground) process group, so
   * the app reads the terminal and gets its Ctrl-C and hangup; otherwise it leads its own group, as every
   * instance does, so that stopping it reaches every process of it even where there are no cgroups.
   */
  async runAttached(s: StartSpec, o: { stdin: boolean; tty: boolean }): Promise<number> {
    const f = await this.prepare(s);
    const dir = this.writeScripts(f);
    const child = spawn("/bin/sh", [join(dir, "run.sh")], { cwd: dir, env: { ...SYSTEM_ENV, SKIFF_INSTANCE: f.name }, detached: !o.tty, stdio: [o.stdin ? "inherit" : "ignore", "inherit", "inherit"] });
    if (!child.pid) throw new Error(`could not start ${f.name}`);
    writeFileSync(join(dir, "pid"), `${processIdentity(child.pid)}\n`);
    await new Promise<void>((resolve) => child.on("close", () => resolve()).on("error", () => resolve()));
    try {
      return Number(readFileSync(join(dir, "exit"), "utf8").trim());
    } catch {
      return 137; // the wrapper itself was killed
    }
  }

  private async prepare(s: StartSpec): Promise<InstanceFile> {
    if (!s.command) throw new Error("a process instance needs a command (run:)");
    if (!(await this.hasImage(s.image))) throw new Error(`artifact ${s.image} is not on this machine`);
    const user = this.user(s);
    const dir = this.dir(s.name);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const hash = artifactHash(s.image);
    if (hash) artifactsRootOnly(this.base);
    const workdir = releaseWorkdir(this.base, s, hash && join(this.base, "artifacts", hash), user);
    placeFilesAndVolumes(this.base, s, workdir, user);
    const cgroup = createCgroup(s.name, s.limits ?? {});
    // SKIFF_INSTANCE marks the instance's processes (see instance-procs.ts).
    const env = { PATH: APP_PATH, HOME: workdir, ...s.env, PORT: String(s.hostPort), HOST: s.bindAddress, SKIFF_INSTANCE: s.name };
    const f: InstanceFile = { name: s.name, command: s.command, workdir, env, labels: s.labels, hostPort: s.hostPort, user, limits: s.limits ?? {}, cgroup, oomBase: oomKills(cgroup.dirs), ...(s.stopSignal ? { stopSignal: s.stopSignal as NodeJS.Signals } : {}) };
    this.save(f);
    return f;
  }

  /** Writes the wrapper and the app's environment afresh (an instance made by an older agent gets today's). */
  private writeScripts(f: InstanceFile): string {
    const dir = this.dir(f.name);
    writeFileSync(join(dir, "env.sh"), envScript(f.env, execPrefix(f.command)), { mode: 0o600 });
    chmodSync(join(dir, "env.sh"), 0o600);
    writeFileSync(join(dir, "run.sh"), wrapperScript({ name: f.name, dir, workdir: f.workdir, cgroupProcs: f.cgroup.procs, user: f.user }), { mode: 0o700 });
    rmSync(join(dir, "command"), { force: true }); // an older agent's: the command is in env.sh now
    rmSync(join(dir, "exit"), { force: true });
    return dir;
  }

  /** Starts the wrapper in its own session, its output to out.log. */
  private launch(f: InstanceFile): void {
    const dir = this.writeScripts(f);
    const log = openSync(join(dir, "out.log"), "a", 0o640);
    try {
      // Root's own environment and root's own directory: nothing of the app's (see wrapper.ts).
      const child = spawn("/bin/sh", [join(dir, "run.sh")], { cwd: dir, env: { ...SYSTEM_ENV, SKIFF_INSTANCE: f.name }, detached: true, stdio: ["ignore", log, log] });
      if (!child.pid) throw new Error(`could not start ${f.name}`);
      child.on("error", () => {});
      child.unref();
      const identity = `${processIdentity(child.pid)}\n`;
      writeFileSync(join(dir, "pid"), identity);
      this.wrappers.set(f.name, identity);
      this.children.set(f.name, child);
      child.on("exit", () => {
        if (this.children.get(f.name) !== child) return;
        this.children.delete(f.name);
        this.onExit?.(f.name);
      });
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
    if (this.running(f)) return;
    // The cgroup may be gone (a reboot): create it again with the same limits.
    if (f.cgroup.dirs.some((d) => !existsSync(d))) f.cgroup = createCgroup(name, f.limits);
    this.launch(f);
  }

  /** Stopped means every process of the instance is gone, not only the wrapper: TERM, and KILL after the timeout. */
  async stop(name: string, timeoutS: number): Promise<void> {
    const f = this.read(name);
    if (!f) return;
    if (!this.running(f)) return;
    this.signal(f, f.stopSignal ?? "SIGTERM");
    const until = Date.now() + timeoutS * 1000;
    while (this.running(f) && Date.now() < until) await sleep(50);
    const killUntil = Date.now() + 5000;
    while (this.running(f) && Date.now() < killUntil) {
      this.signal(f, "SIGKILL");
      await sleep(20);
    }
  }

  async remove(name: string): Promise<void> {
    const f = this.read(name);
    if (f && this.running(f)) await this.stop(name, 0);
    if (f) removeCgroup(f.cgroup.dirs);
    this.forget(name);
    rmSync(this.dir(name), { recursive: true, force: true });
  }

  /** The groups the instance's wrapper joined (none where cgroups were not available to it). */
  async cgroupDirs(name: string): Promise<string[]> {
    return this.read(name)?.cgroup.dirs.filter((d) => existsSync(d)) ?? [];
  }

  async status(name: string): Promise<InstanceStatus> {
    const f = this.read(name);
    if (!f) return { exists: false, running: false, exitCode: null, oomKilled: false };
    const running = this.running(f);
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
    // Only an exit is judged by it (a running instance's OOM count is read by no one), and its files are several reads.
    const oomKilled = !running && oomKills(f.cgroup.dirs) > f.oomBase;
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
    // GNU rm, not fs.rmSync: the app (whose user owns this tree and may still run a newer release) could swap a
    // directory for a link between rmSync's lstat and its readdir; rm works from descriptors and never follows.
    const dir = join(this.base, "work", project, app, String(release));
    runSystem(["rm", "-rf", "--", dir], `cannot remove ${dir}`);
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
        await copyTruncate(log, `${log}.1`);
      } catch {}
    }
  }
}

/**
 * Copy, then truncate (the app holds an O_APPEND descriptor to `log`: it cannot be renamed away). The kernel copies,
 * off the agent's loop (the agent never holds the file: it can be hundreds of MB under a flood); what the app wrote during the copy is
 * appended to the copy after it, again until nothing came, and the file is cut right after the last look. Before,
 * everything written while the agent read and wrote a whole copy was lost (a flood's last line, in a test).
 */
export async function copyTruncate(log: string, to: string, copy: (from: string, to: string) => Promise<void> = copyFile): Promise<void> {
  await copy(log, to);
  chmodSync(to, 0o640);
  let copied = statSync(to).size;
  const fd = openSync(log, "r+");
  let out: number | undefined;
  try {
    out = openSync(to, "a");
    const buf = Buffer.allocUnsafe(1 << 20);
    for (let round = 0; round < 8; round++) {
      const size = fstatSync(fd).size;
      if (size <= copied) break;
      while (copied < size) {
        const n = readSync(fd, buf, 0, Math.min(buf.length, size - copied), copied);
        if (n <= 0) break;
        writeSync(out, buf, 0, n);
        copied += n;
      }
    }
    ftruncateSync(fd, 0);
  } finally {
    if (out !== undefined) closeSync(out);
    closeSync(fd);
  }
}

/** Root's alone (0700, also where an older agent made it 0755): releases link from there, and apps may not read each other's code. */
function artifactsRootOnly(base: string): void {
  mkdirSync(join(base, "artifacts"), { recursive: true, mode: 0o700 });
  chmodSync(join(base, "artifacts"), 0o700);
}

/** Unpacks a tar.gz from stdin into <state>/artifacts/<sha256>, checking that the content has that hash. */
export async function artifactPut(base: string, hash: string): Promise<void> {
  if (!/^[0-9a-f]{64}$/.test(hash)) throw new Error("artifact-put needs the artifact's sha256");
  const dest = join(base, "artifacts", hash);
  if (existsSync(dest)) {
    process.stdin.resume();
    return;
  }
  artifactsRootOnly(base);
  const tmp = join(base, "artifacts", `.tmp-${hash.slice(0, 12)}-${process.pid}`);
  mkdirSync(tmp, { mode: 0o755 });
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      const tar = spawn(systemBin("tar"), ["-xzf", "-", "--no-same-owner", "-C", tmp], { stdio: ["inherit", "inherit", "inherit"] });
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
