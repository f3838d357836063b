// The machine's truth, as files under the state directory:
//   apps/<project>/<app>/releases/<N>.json   release specs (immutable)
//   apps/<project>/<app>/state.json          active release and instances (+ state.json.prev)
//   history.jsonl                            append-only
//   locks/<project>/info.json                the project's deploy lock (mkdir is the atomic step)
// Writes are atomic (temp file, fsync, rename). Only the agent writes these
// files, and only through this class: every write bumps `generation`, which is
// how state-cache.ts knows its copies are still the files' content. A reader that meets a damaged
// file or record (a torn write, a stray file) skips it and reports it through
// `onDamage` instead of failing: one bad byte must not stop supervision,
// history or rollback.
import { closeSync, existsSync, fstatSync, fsyncSync, ftruncateSync, linkSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { writeAtomic } from "./atomic-write.ts";
import type { ServedFacts } from "../contracts/served.ts";
import { ServedIndex } from "./history-served.ts";
import type { AppState, HistoryEntry, LockInfo, ReleaseSpec } from "../contracts/model.ts";
import { sameRelease } from "../contracts/release-secrets.ts";

/** Project and app names as the schema allows them: they become paths here. */
const NAME = /^[a-z][a-z0-9-]{0,62}$/;

export interface Damaged {
  line: number;
  text: string;
}

export class Store {
  private readonly onDamage: (what: string) => void;
  private readonly reported = new Set<string>();
  private gen = 0;
  private readonly listeners: (() => void)[] = [];

  constructor(
    readonly dir: string,
    opts: { onDamage?: (what: string) => void } = {},
  ) {
    this.onDamage = opts.onDamage ?? (() => {});
    mkdirSync(join(dir, "apps"), { recursive: true });
  }

  /** Bumped by every write and removal through this store (after it, even a failed one: the file may have changed). */
  get generation(): number {
    return this.gen;
  }

  /** Called after every write and removal (the supervisor sleeps until a check is due or something changed). */
  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  private changed(): void {
    this.gen++;
    for (const l of this.listeners) l();
  }

  /** Every damaged file or record met since the agent started (for `skiff status`). */
  damageReport(): string[] {
    return [...this.reported];
  }

  /** Says once per distinct problem (readers run every supervisor tick). */
  private damage(what: string): void {
    if (this.reported.has(what)) return;
    this.reported.add(what);
    this.onDamage(what);
  }

  private appDir(project: string, app: string): string {
    if (!NAME.test(project)) throw new Error(`"${project}" is not a project name`);
    if (!NAME.test(app)) throw new Error(`"${app}" is not an app name`);
    return join(this.dir, "apps", project, app);
  }

  /** Temp file, fsync, rename, fsync of the directory (see atomic-write.ts): a crash or a full disk leaves the
   *  old file or the new one, never half. `durable: false` skips the syncs (still never half after the agent's own
   *  crash); `quiet` does not count as a change of the apps' state (no generation bump: the supervisor, the state
   *  cache and the metrics sampler are not woken by a deploy lock's heartbeat). */
  writeJson(path: string, value: unknown, mode = 0o600, opts: { keepPrevious?: boolean; durable?: boolean; quiet?: boolean } = {}): void {
    try {
      mkdirSync(join(path, ".."), { recursive: true });
      writeAtomic(path, JSON.stringify(value, null, 2) + "\n", {
        mode,
        durable: opts.durable,
        beforeRename: () => {
          if (!opts.keepPrevious || !parses(path)) return;
          // The last good copy, for a reader that finds the current one damaged (a disk that lied about fsync).
          rmSync(`${path}.prev`, { force: true });
          try {
            linkSync(path, `${path}.prev`);
          } catch {}
        },
      });
    } finally {
      if (!opts.quiet) this.changed();
    }
  }

  /** undefined when the file is absent; a file that exists but does not parse is reported as damaged. */
  readJson<T>(path: string): T | undefined {
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") this.damage(`${path}: cannot be read (${(e as NodeJS.ErrnoException).code})`);
      return undefined;
    }
    try {
      return JSON.parse(text) as T;
    } catch {
      this.damage(`${path}: damaged (${text.length} bytes that are not JSON); skipped`);
      return undefined;
    }
  }

  /** Stores a release; the same number with a different spec is refused (releases are immutable). A copy without
   *  the secrets (sent to a machine that runs none of the app) is the same release, and a full copy replaces it. */
  putRelease(spec: ReleaseSpec): void {
    const path = join(this.appDir(spec.project, spec.app), "releases", `${spec.release}.json`);
    const existing = this.readJson<ReleaseSpec>(path);
    if (existing) {
      if (!sameRelease(existing, spec)) throw new Error(`release ${spec.release} of ${spec.app} already exists with a different spec; releases are immutable`);
      if (!(existing.withheld && !spec.withheld)) return;
    }
    this.writeJson(path, spec);
  }

  release(project: string, app: string, n: number): ReleaseSpec | undefined {
    return this.readJson<ReleaseSpec>(join(this.appDir(project, app), "releases", `${n}.json`));
  }

  releases(project: string, app: string): number[] {
    const dir = join(this.appDir(project, app), "releases");
    if (!existsSync(dir)) return [];
    return readdirSync(dir)
      .map((f) => /^(\d+)\.json$/.exec(f)?.[1])
      .filter((x): x is string => !!x)
      .map(Number)
      .sort((a, b) => a - b);
  }

  /** Keeps the newest `keep` releases plus any in use. Returns the specs removed. */
  pruneReleases(project: string, app: string, keep: number, inUse: number[]): ReleaseSpec[] {
    const all = this.releases(project, app);
    const drop = all.slice(0, Math.max(0, all.length - keep)).filter((n) => !inUse.includes(n));
    const specs = drop.map((n) => this.release(project, app, n)).filter((s): s is ReleaseSpec => !!s);
    try {
      for (const n of drop) rmSync(join(this.appDir(project, app), "releases", `${n}.json`), { force: true });
    } finally {
      if (drop.length) this.changed();
    }
    return specs;
  }

  /** Forgets an app: its releases and state (history stays). */
  removeApp(project: string, app: string): void {
    try {
      rmSync(this.appDir(project, app), { recursive: true, force: true });
      try {
        if (!readdirSync(join(this.dir, "apps", project)).length) rmSync(join(this.dir, "apps", project), { recursive: true, force: true });
      } catch {}
    } finally {
      this.changed();
    }
  }

  /** Every app with a directory here; anything else under apps/ (a stray file, a foreign name) is reported and skipped. */
  apps(): { project: string; app: string }[] {
    const out: { project: string; app: string }[] = [];
    const root = join(this.dir, "apps");
    const dirs = (dir: string) =>
      readdirSync(dir, { withFileTypes: true }).filter((d) => {
        if (d.isDirectory() && NAME.test(d.name)) return true;
        this.damage(`${join(dir, d.name)}: not an app's state (${d.isDirectory() ? "not a valid name" : "not a directory"}); ignored`);
        return false;
      });
    for (const project of dirs(root)) for (const app of dirs(join(root, project.name))) out.push({ project: project.name, app: app.name });
    return out;
  }

  state(project: string, app: string): AppState {
    const path = join(this.appDir(project, app), "state.json");
    const empty: AppState = { project, app, active: null, instances: [], warm: [], pending: [] };
    const st = this.readJson<AppState>(path);
    if (st && isState(st)) return st;
    if (st === undefined && !existsSync(path)) return empty;
    const prev = this.readJson<AppState>(`${path}.prev`);
    if (prev && isState(prev)) {
      this.damage(`${path}: damaged; using the copy from before its last save (release ${prev.active})`);
      return prev;
    }
    this.damage(`${path}: damaged and no earlier copy; the app counts as not deployed here until the next activation`);
    return empty;
  }

  saveState(s: AppState): void {
    this.writeJson(join(this.appDir(s.project, s.app), "state.json"), s, 0o600, { keepPrevious: true });
  }

  /** One line per record, flushed to disk. A torn last line (a crash mid-append) gets its newline first, so
   *  the damage stays in that line and this record is whole. */
  appendHistory(e: HistoryEntry): void {
    const path = join(this.dir, "history.jsonl");
    const fd = openSync(path, "a+", 0o600);
    try {
      const size = fstatSync(fd).size;
      const last = Buffer.alloc(1);
      const torn = size > 0 && readSync(fd, last, 0, 1, size - 1) === 1 && last[0] !== 0x0a;
      try {
        // Every byte or an error (writeFileSync loops over short writes); a record cut short by a full disk is
        // taken back, so the file ends where it did.
        writeFileSync(fd, (torn ? "\n" : "") + JSON.stringify(e) + "\n");
        fsyncSync(fd);
      } catch (err) {
        try {
          ftruncateSync(fd, size);
        } catch {}
        throw err;
      }
    } finally {
      closeSync(fd);
    }
  }

  history(filter: { project?: string; app?: string } = {}): HistoryEntry[] {
    return this.historyReport(filter).entries;
  }

  /** Per app, the releases that once served (what a rollback may go back to), without reading the whole history
   *  again: see history-served.ts. */
  historyServed(project: string, app: string): ServedFacts & { damaged: Damaged[] } {
    this.served ??= new ServedIndex(join(this.dir, "history.jsonl"), isHistoryEntry);
    const r = this.served.query(project, app, this.state(project, app).active);
    if (r.damaged.length) this.damage(`${join(this.dir, "history.jsonl")}: ${r.damaged.length} damaged record(s) skipped (line ${r.damaged.map((d) => d.line).join(", ")})`);
    return r;
  }
  private served?: ServedIndex;

  /** The records, and the lines that are not records (reported, skipped). */
  historyReport(filter: { project?: string; app?: string } = {}): { entries: HistoryEntry[]; damaged: Damaged[] } {
    const path = join(this.dir, "history.jsonl");
    if (!existsSync(path)) return { entries: [], damaged: [] };
    const entries: HistoryEntry[] = [];
    const damaged: Damaged[] = [];
    readFileSync(path, "utf8")
      .split("\n")
      .forEach((line, i) => {
        if (!line) return;
        let e: unknown;
        try {
          e = JSON.parse(line);
        } catch {}
        if (!isHistoryEntry(e)) return void damaged.push({ line: i + 1, text: line.slice(0, 120) });
        if ((!filter.project || e.project === filter.project) && (!filter.app || e.app === filter.app)) entries.push(e);
      });
    if (damaged.length) this.damage(`${path}: ${damaged.length} damaged record(s) skipped (line ${damaged.map((d) => d.line).join(", ")})`);
    return { entries, damaged };
  }

  // ---- deploy lock, one per project ----

  private lockDir(project: string): string {
    if (!NAME.test(project)) throw new Error(`"${project}" is not a project name`);
    return join(this.dir, "locks", project);
  }

  /** Atomic: mkdir either creates the lock or fails because someone else holds it (the same holder gets it
   *  again). The heartbeat starts on this machine's clock, the one a later `lock release` judges it by. */
  acquireLock(project: string, info: LockInfo): { ok: true } | { ok: false; holder: LockInfo | undefined } {
    const dir = this.lockDir(project);
    mkdirSync(join(dir, ".."), { recursive: true });
    try {
      mkdirSync(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      // Our own lock, left by an undo whose release failed (or a reply that was lost): it is ours to take again.
      if (this.heartbeat(project, info.holder)) return { ok: true };
      return { ok: false, holder: this.lockInfo(project) };
    }
    try {
      // Not the apps' state: nothing that watches it needs waking.
      this.writeJson(join(dir, "info.json"), { ...info, heartbeat: new Date().toISOString() }, 0o600, { quiet: true });
    } catch (e) {
      // A lock without its details (a full disk) would block every later deploy with "someone".
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
    return { ok: true };
  }

  lockInfo(project: string): LockInfo | undefined {
    const dir = this.lockDir(project);
    return existsSync(dir) ? (this.readJson<LockInfo>(join(dir, "info.json")) ?? { holder: "unknown", host: "?", pid: 0, command: "?", since: "?", heartbeat: "?" }) : undefined;
  }

  /** Keeps the lock alive; false when `holder` no longer holds it (it was broken, or another deploy took it). */
  heartbeat(project: string, holder: string): boolean {
    const info = this.lockInfo(project);
    if (!info || info.holder !== holder) return false;
    // Unsynced: a power cut may leave an older stamp or an unreadable file (lockInfo: holder "unknown", stale for
    // `lock release`), and a machine that lost power has no live deploy to keep. Several a deploy, on every machine
    // at once: two syncs each were most of its writes.
    this.writeJson(join(this.lockDir(project), "info.json"), { ...info, heartbeat: new Date().toISOString() }, 0o600, { durable: false, quiet: true });
    return true;
  }

  /** Releases the lock if `holder` holds it; someone else's only with force, or when its heartbeat is older than
   *  `staleAfterMs` (its deploy is dead). A live lock is refused and described. */
  releaseLock(project: string, opts: { holder?: string; force?: boolean; staleAfterMs?: number }): { released: boolean; holder?: LockInfo; live?: boolean; heartbeatAgeMs?: number } {
    const info = this.lockInfo(project);
    if (!info) return { released: false };
    const age = Date.now() - Date.parse(info.heartbeat);
    const stale = opts.staleAfterMs !== undefined && !(age <= opts.staleAfterMs); // no readable heartbeat counts as stale
    if (info.holder !== opts.holder && !opts.force && !stale) return { released: false, holder: info, live: true, heartbeatAgeMs: Number.isFinite(age) ? age : undefined };
    rmSync(this.lockDir(project), { recursive: true, force: true });
    return { released: true, holder: info };
  }
}

/** Whether the file exists and holds JSON (a damaged current copy must not become the fallback). */
function parses(path: string): boolean {
  try {
    JSON.parse(readFileSync(path, "utf8"));
    return true;
  } catch {
    return false;
  }
}

function isState(x: unknown): x is AppState {
  const s = x as AppState;
  return typeof s === "object" && s !== null && Array.isArray(s.instances) && Array.isArray(s.warm) && Array.isArray(s.pending) && (s.active === null || typeof s.active === "number");
}

function isHistoryEntry(x: unknown): x is HistoryEntry {
  const e = x as HistoryEntry;
  return typeof e === "object" && e !== null && typeof e.at === "string" && typeof e.project === "string" && typeof e.app === "string" && typeof e.release === "number" && typeof e.machine === "string";
}
