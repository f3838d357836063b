// Scheduled backups on this machine, with no CLI connected: each job (a service this machine runs) fires on its
// cron schedule (croner), streams its data into restic, applies the retention policy and records the run in
// history (size, duration, snapshot). A run missed while the agent was down is made up at start; a failed one is
// tried again at the next time due. Jobs and their last runs are kept under /var/lib/skiff/backups (0600).
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Cron } from "croner";
import type { BackupJob, BackupRun, Snapshot } from "../contracts/backups.ts";
import { writeAtomic } from "./atomic-write.ts";
import { KeyedMutex } from "./mutex.ts";
import { DUMPS, liveInstance } from "./backup-source.ts";
import { backInTraffic, outOfTraffic } from "./backup-restore.ts";
import { holdApp } from "./hold.ts";
import { isoAt, runtimeOf, type Machine } from "./effects.ts";
import { machineName } from "./identity.ts";
import { spawnInInstance } from "./instance-exec.ts";
import { backupSummary, collect, lastLines, Restic } from "./restic.ts";

/** The longest sleep: a timer never waits past this (a new day's schedule is looked at again). */
const MAX_SLEEP_MS = 3_600_000;

const key = (j: { project: string; app: string }) => `${j.project}/${j.app}`;

export class Backups {
  private readonly jobs = new Map<string, BackupJob[]>();
  /** When each job last ran (scheduled or asked), by project/app: where its schedule continues from. */
  private last: Record<string, string> = {};
  private readonly running = new Map<string, Promise<BackupRun>>();
  private timer?: NodeJS.Timeout;
  private stopped = true;
  /** One restic command at a time per service's repository on this machine: a prune (exclusive lock) next to a
   *  check, a restore or the next backup would make them fail with "repository is already locked". */
  private readonly repoLock = new KeyedMutex();

  /** Runs `fn` while this machine uses no other restic command on the service's repository. */
  withRepo<T>(j: BackupJob, fn: () => Promise<T>): Promise<T> {
    return this.repoLock.run(key(j), fn);
  }

  constructor(
    private readonly m: Machine,
    readonly dir: string,
  ) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const f of readdirSync(dir).filter((f) => f.endsWith(".jobs.json"))) {
      try {
        this.jobs.set(f.slice(0, -".jobs.json".length), JSON.parse(readFileSync(join(dir, f), "utf8")) as BackupJob[]);
      } catch (e) {
        m.log(`backups: ${f} is unreadable, its jobs wait for the next deploy: ${(e as Error).message}`);
      }
    }
    try {
      this.last = JSON.parse(readFileSync(join(dir, "last-runs.json"), "utf8")) as Record<string, string>;
    } catch {}
  }

  set(project: string, jobs: BackupJob[]): { changed: boolean } {
    const text = JSON.stringify(jobs);
    const file = join(this.dir, `${project}.jobs.json`);
    if (existsSync(file) && readFileSync(file, "utf8") === text) return { changed: false };
    writeAtomic(file, text, { mode: 0o600 });
    this.jobs.set(project, jobs);
    // A new job starts its schedule now (no backlog of runs it was never asked for).
    for (const j of jobs) this.last[key(j)] ??= isoAt(this.m);
    this.saveLast();
    this.arm();
    return { changed: true };
  }

  /** Whether the service has backups configured here now (a run recorded before they were taken out of skiff.yml
   *  raises no alert). */
  configured(project: string, app: string): boolean {
    return Boolean(this.jobs.get(project)?.some((x) => x.app === app));
  }

  job(project: string, app: string): BackupJob {
    const j = this.jobs.get(project)?.find((x) => x.app === app);
    if (!j) throw new Error(`${app} has no backups configured on this machine (deploy skiff.yml with its backups: first)`);
    return j;
  }

  start(): void {
    this.stopped = false;
    this.arm();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** When a job is next due: the first schedule time after its last run. */
  nextAt(j: BackupJob): number {
    const from = this.last[key(j)] ? new Date(this.last[key(j)]!) : new Date(this.m.fx.clock.now());
    return new Cron(j.schedule, { paused: true }).nextRun(from)?.getTime() ?? Infinity;
  }

  private arm(): void {
    clearTimeout(this.timer);
    if (this.stopped) return;
    const all = [...this.jobs.values()].flat();
    if (!all.length) return;
    const wait = Math.max(0, Math.min(MAX_SLEEP_MS, ...all.map((j) => this.nextAt(j) - this.m.fx.clock.now())));
    this.timer = setTimeout(() => void this.tick(), wait).unref();
  }

  /** Runs every job due (one at a time: a backup is heavy on a small machine), then sleeps until the next. */
  async tick(): Promise<void> {
    const now = this.m.fx.clock.now();
    for (const j of [...this.jobs.values()].flat().filter((x) => this.nextAt(x) <= now)) {
      if (this.runsHere(j)) await this.run(j.project, j.app, { by: "schedule" }).catch(() => {});
      else this.ran(j);
    }
    this.arm();
  }

  /** A job fires on the machines that run its service now (the others hold the job for when they do). A database
   *  held stopped (`skiff accessory stop`) has nothing to dump: its time passes without a run (volumes of a held
   *  service are backed up: stopped, they are at their most consistent). */
  private runsHere(j: BackupJob): boolean {
    const st = this.m.store.state(j.project, j.app);
    return st.active !== null && st.instances.length > 0 && !(st.held && j.kind !== "volumes");
  }

  private ran(j: BackupJob): void {
    this.last[key(j)] = isoAt(this.m);
    this.saveLast();
  }

  private saveLast(): void {
    writeAtomic(join(this.dir, "last-runs.json"), JSON.stringify(this.last), { mode: 0o600 });
  }

  /** One backup now; a second ask while one runs waits for that one. `keepAll`: the retention policy is not applied
   *  this time (a backup made before a restore or an upgrade must not prune the snapshot that is about to be needed:
   *  with a daily policy, two backups in a day keep only the newer). */
  run(project: string, app: string, o: { by?: string; keepAll?: boolean; final?: boolean; holder?: string } = {}): Promise<BackupRun> {
    const k = `${project}/${app}`;
    if (o.final) {
      // Its own run, after any that is under way (that one did not take the service out of traffic first).
      const j = this.job(project, app);
      if (!this.runsHere(j)) return Promise.resolve({ ok: true, app, durationMs: 0, skipped: "it does not run here" });
      return (this.running.get(k) ?? Promise.resolve()).catch(() => {}).then(() => this.withRepo(j, () => this.finalBackup(j, o.by, o.holder)));
    }
    let r = this.running.get(k);
    if (!r) {
      const j = this.job(project, app);
      // Asked on a machine the service may run on but does not now: nothing to back up, nothing failed.
      if (!this.runsHere(j)) return Promise.resolve({ ok: true, app, durationMs: 0, skipped: "it does not run here" });
      r = this.withRepo(j, () => this.backup(j, o.by, o.keepAll)).finally(() => this.running.delete(k));
      this.running.set(k, r);
    }
    return r;
  }

  /** The last backup before the service moves to another machine: nothing reaches it from before the backup on
   *  (a database: out of HAProxy, its other sessions ended, then dumped; volumes: held stopped, then read), and it
   *  stays held stopped after, so nothing written can be left behind. A backup that fails lets it serve again. */
  private async finalBackup(j: BackupJob, by?: string, holder?: string): Promise<BackupRun> {
    const hold = (held: boolean) => holdApp(this.m, { project: j.project, app: j.app, machine: machineName(this.m.store), held, by, holder });
    const inst = j.kind === "volumes" ? undefined : liveInstance(this.m.store.state(j.project, j.app));
    const serveAgain = () => (inst ? backInTraffic(this.m, j, inst) : hold(false)).catch(() => {});
    try {
      if (inst) await outOfTraffic(this.m, j, inst);
      else {
        const h = await hold(true);
        if (h.reason) throw new Error(`stopping it failed: ${h.reason}`);
      }
    } catch (e) {
      await serveAgain();
      const out: BackupRun = { ok: false, app: j.app, reason: (e as Error).message, durationMs: 0 };
      this.m.log(`${j.app}: backup before it moves failed: ${out.reason}`);
      return out;
    }
    const out = await this.backup(j, by, true);
    if (!out.ok) await serveAgain();
    else if (inst) {
      const h = await hold(true);
      if (h.reason) return { ...out, ok: false, reason: `backed up (${out.snapshot!.slice(0, 8)}), but stopping it failed: ${h.reason}` };
    }
    return out;
  }

  private async backup(j: BackupJob, by?: string, keepAll = false): Promise<BackupRun> {
    const t0 = this.m.fx.clock.now();
    const machine = machineName(this.m.store);
    const st = this.m.store.state(j.project, j.app);
    let out: BackupRun;
    const restic = new Restic(j, this.dir);
    try {
      const aside = await restic.ensure();
      if (aside) this.m.log(`${j.app}: files left where its repository was (no config: a run under way when it was removed?) moved to ${aside}; a new repository made`);
      const made = j.kind === "volumes" ? await this.filesInto(restic, j, machine) : await this.dumpInto(restic, j, machine, DUMPS[j.kind]);
      const forgot = keepAll ? 0 : await restic.forget(key(j), j.keep);
      out = { ok: true, app: j.app, ...made, forgot, durationMs: this.m.fx.clock.now() - t0 };
    } catch (e) {
      restic.unknown();
      out = { ok: false, app: j.app, reason: (e as Error).message, durationMs: this.m.fx.clock.now() - t0 };
    }
    this.ran(j);
    this.m.store.appendHistory({
      at: isoAt(this.m), machine, project: j.project, app: j.app, release: st.active ?? 0, action: "backup", result: out.ok ? "ok" : "failed", reason: out.reason, by: by ?? "schedule", durationMs: out.durationMs,
      ...(out.ok ? { backup: { snapshot: out.snapshot!, bytes: out.bytes!, added: out.added!, forgot: out.forgot ?? 0 } } : {}),
    });
    this.m.log(`${j.app}: backup ${out.ok ? `${out.snapshot!.slice(0, 8)} (${out.bytes} bytes read, ${out.added} added)` : `failed: ${out.reason}`}`);
    return out;
  }

  /** The dump made in the running instance, piped into restic; a dump that fails leaves no snapshot behind. */
  private async dumpInto(restic: Restic, j: BackupJob, machine: string, how: (typeof DUMPS)[keyof typeof DUMPS]): Promise<{ snapshot: string; bytes: number; added: number }> {
    const inst = liveInstance(this.m.store.state(j.project, j.app));
    if (!inst) throw new Error(`${j.app} does not run here now: nothing to dump`);
    const store = restic.spawn(["backup", "--json", "--host", machine, "--tag", key(j), "--time", this.resticTime(), "--stdin", "--stdin-filename", how.file], "pipe");
    const dump = spawnInInstance(this.m.store.dir, inst, how.script, "ignore");
    // restic going away mid-dump (a lock, a repository gone) must fail this run, not crash the agent with EPIPE, and
    // not leave the dump blocked on a full pipe forever (holding the repository's turn): closing our end of its
    // output makes its next write fail, and it exits.
    store.stdin!.on("error", () => {});
    store.on("exit", () => dump.child.stdout!.destroy());
    dump.child.stdout!.pipe(store.stdin!);
    const [d, r] = await Promise.all([collect(dump.child, { piped: true }).finally(() => dump.cleanup()), collect(store)]);
    const made = backupSummary(r.stdout);
    // restic first: when it fails, the dump fails after it (its output was closed), and restic's reason is the one.
    if (r.code !== 0 || !made) throw new Error(`restic backup failed: ${lastLines(r.stderr)}`);
    if (d.code !== 0) {
      await restic.run(["forget", made.snapshot]);
      throw new Error(`${how.what} failed (exit ${d.code}): ${lastLines(d.stderr)}`);
    }
    return made;
  }

  /** The volume directories as they are (paths kept absolute in the snapshot: a restore puts them back). */
  private async filesInto(restic: Restic, j: BackupJob, machine: string): Promise<{ snapshot: string; bytes: number; added: number }> {
    const paths = await this.volumePaths(j);
    if (!paths.length) throw new Error(`${j.app} has no volume on this machine`);
    const r = await collect(restic.spawn(["backup", "--json", "--host", machine, "--tag", key(j), "--time", this.resticTime(), ...paths]));
    const made = backupSummary(r.stdout);
    if (r.code !== 0 || !made) throw new Error(`restic backup failed: ${lastLines(r.stderr)}`);
    return made;
  }

  /** The snapshot's time from the agent's clock (restic reads it as local time): the retention policy sees the
   *  days the schedule ran on (a test's clock can run a month of schedule in seconds). */
  private resticTime(): string {
    const d = new Date(this.m.fx.clock.now());
    const p = (n: number) => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  }

  async volumePaths(j: BackupJob): Promise<string[]> {
    const st = this.m.store.state(j.project, j.app);
    const spec = st.active !== null ? this.m.store.release(j.project, j.app, st.active) : undefined;
    if (!spec?.volumes?.length) return [];
    const rt = runtimeOf(this.m, spec);
    return Promise.all(spec.volumes.map((v) => rt.volumePath!(j.project, j.app, v.name)));
  }

  /** The service's snapshots (`locked`: the caller holds the repository already). */
  async list(project: string, app: string, locked = false): Promise<Snapshot[]> {
    const j = this.job(project, app);
    const read = () => new Restic(j, this.dir).snapshots([key(j)]);
    return locked ? read() : this.withRepo(j, read);
  }

  forget(project: string): void {
    // Its repositories are asked about again when it comes back (they may have been removed meanwhile).
    for (const j of this.jobs.get(project) ?? []) new Restic(j, this.dir).unknown();
    this.jobs.delete(project);
    try {
      writeAtomic(join(this.dir, `${project}.jobs.json`), "[]", { mode: 0o600 });
    } catch {}
    this.arm();
  }
}
