// Copies what instances print into the app's kept files (log-store.ts), each
// line labelled with its release and instance, and the agent's own log next to
// them. Sources: a process instance's out.log (read on from where the copy
// stopped), a container's output through the Engine API (followed, with
// Docker's timestamps), the agent's log file. Where each copy stopped is saved
// (positions.json), so an agent restart goes on where it was; an instance's
// last lines are copied before it is removed (see `collecting`), so a failed
// deploy's output stays after its instances are gone. A copy runs when a file
// changes (inotify through fs.watch on each process instance's directory and
// on the agent log's), soon after the first write and at most every MIN_GAP_MS
// under a flood; a state written (Store.onChange: a deploy's new instances) is
// a change too; plus a sweep every SWEEP_MS for anything a watch missed: an
// idle agent does not poll.
import { closeSync, existsSync, mkdirSync, fstatSync, openSync, readFileSync, readSync, renameSync, statSync, truncateSync, watch, writeFileSync, type FSWatcher } from "node:fs";
import { basename, dirname, join } from "node:path";
import { AGENT_LOG_KEY } from "../contracts/logs.ts";
import { dockerLogs, type DockerLine, type Follow } from "../runtime/docker-logs.ts";
import type { Runtime, RuntimeKind, StartSpec } from "../runtime/types.ts";
import type { LogBatch, LogStore } from "./log-store.ts";
import type { Store } from "./store.ts";
import { StateCache } from "./state-cache.ts";

/** Read at most this much of one file per tick, so a flood does not hold the agent's loop. */
const CHUNK = 4 * 1024 * 1024;
/** A line longer than this without a newline is filed as it is. */
const LONG_LINE = 64 * 1024;
/** The agent's log file (appended by its supervisor) is cut once copied past this. */
const AGENT_FILE_MAX = 4 * 1024 * 1024;
/** A write is copied this soon (lines written together land in one copy)… */
const SETTLE_MS = 20;
/** …and while output keeps coming, one copy this often at most (as the 500 ms poll did under a flood). */
const MIN_GAP_MS = 500;
/** A round without any event: watches set again, anything missed copied (new instances come with a state write). */
const SWEEP_MS = 30_000;

interface Source {
  name: string;
  kind: RuntimeKind;
  project: string;
  app: string;
  release: number | null;
}

type Position = { ino: number; offset: number } | { since: string };

export interface CollectorOptions {
  stateDir: string;
  dockerSocket: string;
  /** The file the agent's supervisor appends the agent's output to. */
  agentLog: string;
  log: (s: string) => void;
  now?: () => Date;
}

export class LogCollector {
  private readonly sources = new Map<string, Source>();
  private readonly follows = new Map<string, { follow: Follow; openedAt: number }>();
  private positions: Record<string, Position> = {};
  private dirty = false;
  private timer?: NodeJS.Timeout;
  private soon?: NodeJS.Timeout;
  private lastTick = 0;
  private stopped = true;
  /** A watch per process instance's directory (and "_agent": the agent log's directory). */
  private readonly watches = new Map<string, FSWatcher>();
  private readonly cache: StateCache;
  private readonly posFile: string;

  constructor(
    private readonly logs: LogStore,
    store: Store,
    private readonly o: CollectorOptions,
  ) {
    this.cache = new StateCache(store);
    store.onChange(() => this.wake());
    this.posFile = join(logs.root, "positions.json");
    mkdirSync(logs.root, { recursive: true, mode: 0o750 });
    try {
      this.positions = JSON.parse(readFileSync(this.posFile, "utf8")) as Record<string, Position>;
    } catch {}
  }

  private now(): string {
    return (this.o.now?.() ?? new Date()).toISOString();
  }

  start(sweepMs = SWEEP_MS): void {
    this.stopped = false;
    this.timer = setInterval(() => this.tick(), sweepMs);
    this.timer.unref();
    this.tick();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.soon);
    for (const f of this.follows.values()) f.follow.close();
    for (const w of this.watches.values()) w.close();
    this.watches.clear();
  }

  /** Something changed (or more is left to copy): a round soon, MIN_GAP_MS after the last one at the earliest. */
  private wake(): void {
    if (this.soon || this.stopped) return;
    this.soon = setTimeout(() => ((this.soon = undefined), this.tick()), Math.max(SETTLE_MS, this.lastTick + MIN_GAP_MS - Date.now()));
    this.soon.unref();
  }

  /** Watches `dir` (changes to `file` in it only, when given) once; a failed or broken watch is set again by a sweep. */
  private watchDir(key: string, dir: string, file?: string): void {
    if (this.stopped || this.watches.has(key)) return;
    try {
      const w = watch(dir, { persistent: false }, (_e, name) => (!file || !name || name === file) && this.wake());
      w.on("error", () => (w.close(), this.watches.get(key) === w && this.watches.delete(key)));
      this.watches.set(key, w);
    } catch {}
  }

  /** An instance just started (or a hook's one-off run): its output is copied from now on. */
  track(kind: RuntimeKind, spec: Pick<StartSpec, "name" | "labels">): void {
    const l = spec.labels;
    if (!l["skiff.project"] || !l["skiff.app"]) return;
    this.sources.set(spec.name, { name: spec.name, kind, project: l["skiff.project"], app: l["skiff.app"], release: l["skiff.release"] ? Number(l["skiff.release"]) : null });
    if (kind === "process") this.watchDir(spec.name, join(this.o.stateDir, "instances", spec.name));
    this.wake();
  }

  /** Copies what is left of an instance's output, then forgets it (it is about to be removed). */
  async flush(name: string): Promise<void> {
    if (!this.sources.has(name)) this.discover();
    const s = this.sources.get(name);
    if (!s) return;
    try {
      if (s.kind === "process") while (this.readProcess(s)) {}
      else await this.readDockerOnce(s);
    } catch (e) {
      this.o.log(`logs: ${name}: ${(e as Error).message}`);
    }
    this.forget(name);
    this.save();
  }

  private forget(name: string): void {
    this.watches.get(name)?.close();
    this.watches.delete(name);
    this.follows.get(name)?.follow.close();
    this.follows.delete(name);
    this.sources.delete(name);
    if (name in this.positions) {
      delete this.positions[name];
      this.dirty = true;
    }
  }

  /** One round: find instances (after an agent restart, from the saved state), copy what is new. */
  tick(): void {
    this.lastTick = Date.now();
    try {
      this.discover();
      let more = false;
      for (const s of this.sources.values()) {
        // Up to 2 chunks a tick per instance (8 MiB, ~0.1 s here): a flood is copied at up to 16 MiB/s without holding
        // the agent's loop (health checks) long; what is left waits for the next round, soon.
        if (s.kind === "process") {
          this.watchDir(s.name, join(this.o.stateDir, "instances", s.name));
          let left = true;
          for (let i = 0; i < 2 && left; i++) left = this.readProcess(s);
          more ||= left;
        } else this.followDocker(s);
      }
      this.watchDir("_agent", dirname(this.o.agentLog), basename(this.o.agentLog));
      this.readAgentLog();
      this.save();
      if (more) this.wake();
    } catch (e) {
      this.o.log(`logs: ${(e as Error).message}`);
    }
  }

  private discover(): void {
    for (const { project, app, state } of this.cache.apps()) {
      for (const i of [...state.instances, ...state.warm, ...state.pending, ...(state.retiring ?? [])]) {
        if (!this.sources.has(i.name)) this.sources.set(i.name, { name: i.name, kind: i.runtime ?? "docker", project, app, release: i.release });
      }
    }
  }

  private save(): void {
    if (!this.dirty) return;
    this.dirty = false;
    try {
      writeFileSync(`${this.posFile}.tmp`, JSON.stringify(this.positions), { mode: 0o600 });
      renameSync(`${this.posFile}.tmp`, this.posFile);
    } catch {}
  }

  /** Reads on in a file from the saved position; returns whole lines (each ending in a newline) as latin1 text (one
   *  character a byte: prefixed and written back byte for byte, so the app's UTF-8 is neither decoded nor encoded,
   *  which was most of the copy's cost) and moves the position past them. */
  private readFile(key: string, file: string, rotated?: string): { text: string; more: boolean } {
    const pos = this.positions[key];
    let { ino, offset } = pos && "offset" in pos ? pos : { ino: 0, offset: 0 };
    let fd: number;
    try {
      fd = openSync(file, "r");
    } catch {
      return { text: "", more: false };
    }
    try {
      const st = fstatSync(fd);
      if (st.ino !== ino || st.size < offset) {
        // Cut (copied to `rotated` first) or replaced: what was not copied yet is at the end of the rotated copy.
        const lost = ino !== 0 && st.ino === ino && rotated ? this.rest(rotated, offset) : "";
        this.positions[key] = { ino: st.ino, offset: 0 };
        this.dirty = true;
        const next = this.readFile(key, file);
        return { text: lost + next.text, more: next.more };
      }
      if (st.size === offset) return { text: "", more: false };
      const len = Math.min(CHUNK, st.size - offset);
      const buf = Buffer.allocUnsafe(len);
      readSync(fd, buf, 0, len, offset);
      let end = buf.lastIndexOf(10) + 1;
      if (end === 0 && len < LONG_LINE) return { text: "", more: false };
      const cut = end === 0;
      if (cut) end = len;
      offset += end;
      this.positions[key] = { ino: st.ino, offset };
      this.dirty = true;
      return { text: buf.toString("latin1", 0, end) + (cut ? "\n" : ""), more: offset < st.size };
    } finally {
      closeSync(fd);
    }
  }

  /** What a rotated copy holds past `offset` (the lines not copied before the runtime cut the file). */
  private rest(file: string, offset: number): string {
    let fd: number | undefined;
    try {
      // Only what is past the offset is read (a rotated copy may be hundreds of MB under a flood).
      fd = openSync(file, "r");
      const left = Math.max(0, fstatSync(fd).size - offset);
      const buf = Buffer.allocUnsafe(left);
      const text = buf.subarray(0, readSync(fd, buf, 0, left, offset)).toString("latin1");
      return !text || text.endsWith("\n") ? text : `${text}\n`;
    } catch {
      return "";
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }

  /** One chunk of a process instance's out.log; true when there is more. */
  private readProcess(s: Source): boolean {
    const out = join(this.o.stateDir, "instances", s.name, "out.log");
    if (!existsSync(out)) {
      // Its directory gone (removed by something other than the agent's runtime): stop looking for it.
      if (!existsSync(join(this.o.stateDir, "instances", s.name))) this.forget(s.name);
      return false;
    }
    const { text, more } = this.readFile(s.name, out, `${out}.1`);
    if (text) this.logs.writeBlock(s.project, s.app, "out", { time: this.now(), release: s.release, instance: s.name }, text);
    return more;
  }

  private dockerBatches(s: Source, lines: DockerLine[]): LogBatch[] {
    const pos = this.positions[s.name];
    let since = pos && "since" in pos ? pos.since : "";
    const out: LogBatch[] = [];
    for (const l of lines) {
      if (l.ts <= since) continue; // "since" includes its own second's lines: the ones already filed are skipped
      since = l.ts;
      const time = `${l.ts.slice(0, 19)}.${(l.ts.slice(20, 23) || "000").padEnd(3, "0")}Z`;
      const last = out.at(-1);
      if (last && last.time === time) last.lines.push(l.text);
      else out.push({ time, release: s.release, instance: s.name, lines: [l.text] });
    }
    if (out.length) {
      this.positions[s.name] = { since };
      this.dirty = true;
    }
    return out;
  }

  /** A follow per running container, opened again (from the last line filed) after it ends. */
  private followDocker(s: Source): void {
    if (this.follows.has(s.name)) return;
    const pos = this.positions[s.name];
    const since = pos && "since" in pos ? pos.since : undefined;
    let pending: DockerLine[] = [];
    const flush = () => {
      const batch = pending;
      pending = [];
      if (this.sources.has(s.name)) this.logs.write(s.project, s.app, "out", this.dockerBatches(s, batch));
    };
    const follow = dockerLogs(this.o.dockerSocket, s.name, { since, follow: true }, (l) => {
      pending.push(l);
      if (pending.length >= 1000) flush();
    });
    const timer = setInterval(flush, 250);
    timer.unref();
    const entry = { follow, openedAt: Date.now() };
    this.follows.set(s.name, entry);
    void follow.done.then((how) => {
      clearInterval(timer);
      flush();
      // Removed by something other than the agent's runtime (nothing was left to copy): stop looking for it.
      if (how === "gone") this.forget(s.name);
      this.save();
      // A stopped container's stream ends at once: look again (it may be restarted) no sooner than 2 s later.
      setTimeout(() => this.follows.get(s.name) === entry && this.follows.delete(s.name) && this.wake(), Math.max(0, 2000 - (Date.now() - entry.openedAt))).unref();
    });
  }

  private async readDockerOnce(s: Source): Promise<void> {
    const pos = this.positions[s.name];
    const lines: DockerLine[] = [];
    await dockerLogs(this.o.dockerSocket, s.name, { since: pos && "since" in pos ? pos.since : undefined, follow: false }, (l) => lines.push(l)).done;
    this.logs.write(s.project, s.app, "out", this.dockerBatches(s, lines));
  }

  /** The agent's log file: copied, then cut once it passes AGENT_FILE_MAX (its writers append). */
  private readAgentLog(): void {
    const key = "_agent";
    for (;;) {
      const { text, more } = this.readFile(key, this.o.agentLog);
      if (text) this.logs.writeBlock(AGENT_LOG_KEY.project, AGENT_LOG_KEY.app, "agent", { time: this.now(), release: null, instance: null }, text);
      if (!more) break;
    }
    const pos = this.positions[key];
    if (pos && "offset" in pos && pos.offset > AGENT_FILE_MAX) {
      try {
        if (statSync(this.o.agentLog).size === pos.offset) {
          truncateSync(this.o.agentLog, 0);
          this.positions[key] = { ...pos, offset: 0 };
          this.dirty = true;
        }
      } catch {}
    }
  }
}

/** A runtime whose instances' output is collected: tracked from their start, copied to the end before removal. */
export function collecting(kind: RuntimeKind, rt: Runtime, c: LogCollector): Runtime {
  return new Proxy(rt, {
    get(target, prop, receiver) {
      if (prop === "start")
        return async (spec: StartSpec) => {
          await target.start(spec);
          c.track(kind, spec);
        };
      if (prop === "remove")
        return async (name: string) => {
          await c.flush(name);
          await target.remove(name);
        };
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
