// The machine's truth, as files under the state directory:
//   apps/<project>/<app>/releases/<N>.json   release specs (immutable)
//   apps/<project>/<app>/state.json          active release and instances
//   history.jsonl                            append-only
//   lock/info.json                           deploy lock (mkdir is the atomic step)
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { AppState, HistoryEntry, LockInfo, ReleaseSpec } from "./model.ts";

export class Store {
  constructor(readonly dir: string) {
    mkdirSync(join(dir, "apps"), { recursive: true });
  }

  private appDir(project: string, app: string): string {
    return join(this.dir, "apps", project, app);
  }

  writeJson(path: string, value: unknown, mode = 0o600): void {
    mkdirSync(join(path, ".."), { recursive: true });
    const tmp = `${path}.tmp-${process.pid}`;
    writeFileSync(tmp, JSON.stringify(value, null, 2) + "\n", { mode });
    renameSync(tmp, path);
  }

  readJson<T>(path: string): T | undefined {
    try {
      return JSON.parse(readFileSync(path, "utf8")) as T;
    } catch {
      return undefined;
    }
  }

  /** Stores a release; the same number with a different spec is refused (releases are immutable). */
  putRelease(spec: ReleaseSpec): void {
    const path = join(this.appDir(spec.project, spec.app), "releases", `${spec.release}.json`);
    const existing = this.readJson<ReleaseSpec>(path);
    if (existing) {
      const same = JSON.stringify({ ...existing, createdAt: "", createdBy: "" }) === JSON.stringify({ ...spec, createdAt: "", createdBy: "" });
      if (!same) throw new Error(`release ${spec.release} of ${spec.app} already exists with a different spec; releases are immutable`);
      return;
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
    for (const n of drop) rmSync(join(this.appDir(project, app), "releases", `${n}.json`), { force: true });
    return specs;
  }

  /** Forgets an app: its releases and state (history stays). */
  removeApp(project: string, app: string): void {
    rmSync(this.appDir(project, app), { recursive: true, force: true });
    try {
      if (!readdirSync(join(this.dir, "apps", project)).length) rmSync(join(this.dir, "apps", project), { recursive: true, force: true });
    } catch {}
  }

  apps(): { project: string; app: string }[] {
    const out: { project: string; app: string }[] = [];
    const root = join(this.dir, "apps");
    for (const project of readdirSync(root)) for (const app of readdirSync(join(root, project))) out.push({ project, app });
    return out;
  }

  state(project: string, app: string): AppState {
    return this.readJson<AppState>(join(this.appDir(project, app), "state.json")) ?? { project, app, active: null, instances: [], warm: [], pending: [] };
  }

  saveState(s: AppState): void {
    this.writeJson(join(this.appDir(s.project, s.app), "state.json"), s);
  }

  appendHistory(e: HistoryEntry): void {
    appendFileSync(join(this.dir, "history.jsonl"), JSON.stringify(e) + "\n", { mode: 0o600 });
  }

  history(filter: { project?: string; app?: string } = {}): HistoryEntry[] {
    const path = join(this.dir, "history.jsonl");
    if (!existsSync(path)) return [];
    return readFileSync(path, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as HistoryEntry)
      .filter((e) => (!filter.project || e.project === filter.project) && (!filter.app || e.app === filter.app));
  }

  // ---- deploy lock ----

  private lockDir(): string {
    return join(this.dir, "lock");
  }

  /** Atomic: mkdir either creates the lock or fails because someone holds it. */
  acquireLock(info: LockInfo): { ok: true } | { ok: false; holder: LockInfo | undefined } {
    try {
      mkdirSync(this.lockDir());
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      return { ok: false, holder: this.readJson<LockInfo>(join(this.lockDir(), "info.json")) };
    }
    this.writeJson(join(this.lockDir(), "info.json"), info);
    return { ok: true };
  }

  lockInfo(): LockInfo | undefined {
    return existsSync(this.lockDir()) ? (this.readJson<LockInfo>(join(this.lockDir(), "info.json")) ?? { holder: "unknown", host: "?", pid: 0, command: "?", since: "?", heartbeat: "?" }) : undefined;
  }

  heartbeat(holder: string): boolean {
    const info = this.lockInfo();
    if (!info || info.holder !== holder) return false;
    this.writeJson(join(this.lockDir(), "info.json"), { ...info, heartbeat: new Date().toISOString() });
    return true;
  }

  /** Releases the lock if `holder` holds it (or always, with force). */
  releaseLock(holder: string | undefined, force = false): boolean {
    const info = this.lockInfo();
    if (!info) return false;
    if (!force && info.holder !== holder) return false;
    rmSync(this.lockDir(), { recursive: true, force: true });
    return true;
  }
}
