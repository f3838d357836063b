// Restores and checks of backups, on the machine that runs the service. A database comes back through psql in the
// running instance; volumes are put back whole while the service is held stopped (files the snapshot does not
// have are gone after it, so the volume is byte for byte the snapshot's). `verify` touches nothing live: it reads
// the snapshot back (every byte decrypted and checked) and reports what is in it.
import { randomBytes } from "node:crypto";
import { closeSync, constants, createWriteStream, existsSync, fchownSync, mkdtempSync, openSync, renameSync, rmSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { BackupJob, BackupRun, Snapshot, VerifyResult } from "../contracts/backups.ts";
import type { InstanceRecord } from "../contracts/model.ts";
import { DUMP_FILE, liveInstance, PG_KICK, PG_RESTORE, RDB_FILE, restoreErrors, RowCounter } from "./backup-source.ts";
import { backendName } from "../proxy/model.ts";
import { addressOf } from "./instances.ts";
import type { Backups } from "./backups.ts";
import { isoAt, type Machine } from "./effects.ts";
import { holdApp } from "./hold.ts";
import { machineName } from "./identity.ts";
import { spawnInInstance } from "./instance-exec.ts";
import { collect, lastLines, Restic } from "./restic.ts";
import { runSystem } from "../runtime/system.ts";

export interface RestoreParams {
  project: string;
  app: string;
  /** A snapshot ID (or its first 8 characters); absent: the newest of this service on this machine… */
  snapshot?: string;
  /** …other than these (IDs or their beginnings): a restore's own backup-first is not what it restores. */
  not?: string[];
  /** Another service to restore into (a scratch accessory beside it); absent: the service itself. */
  into?: string;
  by?: string;
  holder?: string;
}

async function pick(b: Backups, j: BackupJob, machine: string, id?: string, not: string[] = []): Promise<Snapshot> {
  const all = await b.list(j.project, j.app, true);
  // Named: any machine's (a moved accessory takes its old machine's). The newest: this machine's own, for volumes
  // (an app's volumes are per machine); a database's from wherever it ran.
  const s = id ? all.find((x) => x.id.startsWith(id)) : all.filter((x) => (j.kind !== "volumes" || x.host === machine) && !not.some((n) => x.id.startsWith(n))).sort((x, y) => Date.parse(x.time) - Date.parse(y.time)).at(-1);
  if (!s) throw new Error(id ? `no snapshot ${id} of ${j.app}` : `no backup of ${j.app} yet`);
  return s;
}

export function restore(b: Backups, m: Machine, p: RestoreParams): Promise<BackupRun> {
  return Promise.resolve().then(() => b.withRepo(b.job(p.project, p.app), () => restoreLocked(b, m, p)));
}

/** A database moving to this machine: the snapshot taken where it ran (held stopped there since) goes into its new
 *  instance, which has passed its health gate and takes no connection yet (activation.ts). */
export async function restoreBeforeServing(b: Backups, m: Machine, p: { project: string; app: string; snapshot: string; by?: string; holder?: string }, fresh: InstanceRecord[]): Promise<void> {
  const j = b.job(p.project, p.app);
  if (j.kind !== "postgres") throw new Error(`only a database is restored as it moves in (${p.app}'s backups are ${j.kind})`);
  if (fresh.length !== 1) throw new Error(`a database moving here is restored into one new instance, not ${fresh.length}`);
  const r = await b.withRepo(j, () => restoreLocked(b, m, { project: p.project, app: p.app, snapshot: p.snapshot, by: p.by, holder: p.holder }, fresh[0]));
  if (!r.ok) throw new Error(`restoring ${p.snapshot.slice(0, 8)} into it failed: ${r.reason}`);
}

async function restoreLocked(b: Backups, m: Machine, p: RestoreParams, incoming?: InstanceRecord): Promise<BackupRun> {
  const t0 = m.fx.clock.now();
  const j = b.job(p.project, p.app);
  const machine = machineName(m.store);
  let snap: Snapshot | undefined;
  let out: BackupRun;
  try {
    snap = await pick(b, j, machine, p.snapshot, p.not);
    // The source's repository (and password); the target's instance and volumes.
    const restic = new Restic(j, b.dir);
    const to = { ...j, app: p.into ?? j.app };
    if (j.kind === "postgres") await restoreDump(m, restic, to, snap, incoming);
    else if (j.kind === "redis") await restoreRdb(b, m, restic, to, snap, p);
    else await restoreFiles(b, m, restic, to, snap, p, j.app);
    out = { ok: true, app: j.app, snapshot: snap.id, durationMs: m.fx.clock.now() - t0 };
  } catch (e) {
    out = { ok: false, app: j.app, ...(snap ? { snapshot: snap.id } : {}), reason: (e as Error).message, durationMs: m.fx.clock.now() - t0 };
  }
  const target = p.into ?? p.app;
  const st = m.store.state(p.project, target);
  const from = p.into ? `from ${p.app}'s backup` : undefined;
  m.store.appendHistory({ at: isoAt(m), machine, project: p.project, app: target, release: st.active ?? 0, action: "restore", result: out.ok ? "ok" : "failed", reason: [from, out.reason].filter(Boolean).join(": ") || undefined, by: p.by, durationMs: out.durationMs, ...(out.snapshot ? { backup: { snapshot: out.snapshot } } : {}) });
  m.log(`${target}: restore ${out.ok ? `of ${out.snapshot!.slice(0, 8)}${from ? ` ${from}` : ""} done` : `failed: ${out.reason}`}`);
  return out;
}

/** Into the running instance, out of traffic meanwhile (the apps' connections refused, other sessions ended), so
 *  that nothing writes between the drop of a table and its making again; any unexpected psql ERROR fails it. */
async function restoreDump(m: Machine, restic: Restic, j: BackupJob, snap: Snapshot, incoming?: InstanceRecord): Promise<void> {
  const inst = incoming ?? liveInstance(m.store.state(j.project, j.app));
  if (!inst) throw new Error(`${j.app} does not run here now: start it first (a database is restored into its running instance)`);
  try {
    // A new instance (a move) is in no slot yet and nobody is connected to it.
    if (!incoming) await outOfTraffic(m, j, inst);
    const dump = restic.spawn(["dump", snap.id, `/${DUMP_FILE}`]);
    const psql = spawnInInstance(m.store.dir, inst, PG_RESTORE, "pipe");
    psql.child.stdin!.on("error", () => {});
    dump.stdout!.pipe(psql.child.stdin!);
    const [d, r] = await Promise.all([collect(dump, { piped: true }), collect(psql.child).finally(() => psql.cleanup())]);
    if (d.code !== 0) throw new Error(`restic dump failed: ${lastLines(d.stderr)}`);
    if (r.code !== 0) throw new Error(`psql failed (exit ${r.code}): ${lastLines(r.stderr)}`);
    const errors = restoreErrors(r.stderr);
    if (errors.length) throw new Error(`psql reported ${errors.length} error(s), so the database is not the snapshot's: ${errors.slice(0, 3).join("; ")}`);
  } finally {
    // It ran healthy all along (only its data changed): back in at once (a new one: its activation puts it in).
    if (!incoming) await backInTraffic(m, j, inst);
  }
}

/** A running database taken out of HAProxy (its name refuses connections) with its other sessions ended: from
 *  here on nothing writes to it but us (a restore, or the last backup before it moves). */
export async function outOfTraffic(m: Machine, j: BackupJob, inst: InstanceRecord): Promise<void> {
  await m.proxy.release(backendName(j.project, j.app), inst.name);
  if (j.kind !== "postgres") return;
  const kick = spawnInInstance(m.store.dir, inst, PG_KICK, "ignore");
  const k = await collect(kick.child).finally(() => kick.cleanup());
  if (k.code !== 0) throw new Error(`ending the other sessions failed (exit ${k.code}): ${lastLines(k.stderr)}`);
}

/** Back in its slot, UP at once: it ran healthy all along. */
export async function backInTraffic(m: Machine, j: BackupJob, inst: InstanceRecord): Promise<void> {
  inst.slot = await m.proxy.enable(backendName(j.project, j.app), inst.name, addressOf(inst), inst.hostPort, { gated: true });
}

/** Redis reads dump.rdb from its --dir (its first volume) at start: written there, owned like the directory, while
 *  the server is held stopped. */
async function restoreRdb(b: Backups, m: Machine, restic: Restic, j: BackupJob, snap: Snapshot, p: RestoreParams): Promise<void> {
  const [dir] = await b.volumePaths(j);
  if (!dir) throw new Error(`${j.app} has no volume here: redis' --dir must be its first volume`);
  // With append-only on, Redis loads its AOF and never reads dump.rdb: the restore would change nothing.
  if (["appendonlydir", "appendonly.aof"].some((f) => existsSync(join(dir, f)))) throw new Error(`${j.app} keeps an append-only file in its --dir: Redis would load it and ignore the restored dump.rdb (run it with --appendonly no, or restore its volume: kind: volumes)`);
  await held(m, j, p, async () => {
    const tmp = join(dir, `.${RDB_FILE}.skiff-${randomBytes(6).toString("hex")}`);
    try {
      const d = restic.spawn(["dump", snap.id, `/${RDB_FILE}`]);
      // The directory is the service's user's: the file is made new (never through a link it planted), then handed over.
      const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
      const out = createWriteStream("", { fd });
      d.stdout!.pipe(out);
      const [r] = await Promise.all([collect(d, { piped: true }), new Promise<void>((resolve, reject) => out.on("close", () => resolve()).on("error", reject))]);
      if (r.code !== 0) throw new Error(`restic dump failed: ${lastLines(r.stderr)}`);
      const owner = statSync(dir);
      const fd2 = openSync(tmp, constants.O_RDONLY | constants.O_NOFOLLOW);
      try {
        fchownSync(fd2, owner.uid, owner.gid);
      } finally {
        closeSync(fd2);
      }
      renameSync(tmp, join(dir, RDB_FILE));
    } finally {
      rmSync(tmp, { force: true });
    }
  });
}

/** Runs `fn` with the service held stopped (unless it was already), and lets it run again after. */
async function held(m: Machine, j: BackupJob, p: RestoreParams, fn: () => Promise<void>): Promise<void> {
  const was = m.store.state(j.project, j.app).held;
  const hold = (on: boolean) => holdApp(m, { project: j.project, app: j.app, machine: machineName(m.store), held: on, holder: p.holder, by: p.by });
  if (!was) {
    const h = await hold(true).catch(async (e: Error) => {
      await hold(false).catch(() => {}); // a hold half made is let go: what could run runs again
      throw e;
    });
    if (h.reason) throw new Error(`stopping it failed: ${h.reason}`);
  }
  let failed: unknown;
  try {
    await fn();
  } catch (e) {
    failed = e;
  }
  if (!was) {
    const s = await hold(false);
    // Restored, but it does not start on what was restored: that is a failure to say, not a success.
    if (s.reason && !failed) failed = new Error(`restored, but it did not start again: ${s.reason}`);
  }
  if (failed) throw failed;
}

/** A volume's name from where it is: a process volume's directory is named after it; a Docker volume's data is in
 *  `…/skiff-<project>-<app>-<name>/_data`. */
export function volumeNameOf(path: string, project: string, app: string): string {
  if (basename(path) !== "_data") return basename(path);
  const dir = basename(dirname(path));
  const prefix = `skiff-${project}-${app}-`;
  return dir.startsWith(prefix) ? dir.slice(prefix.length) : dir;
}

async function restoreFiles(b: Backups, m: Machine, restic: Restic, j: BackupJob, snap: Snapshot, p: RestoreParams, source: string): Promise<void> {
  // Each snapshot path goes to the target's volume of the same name (itself, unless restored into another service).
  const mine = await b.volumePaths(j);
  const dest = (path: string) => mine.find((x) => volumeNameOf(x, j.project, j.app) === volumeNameOf(path, j.project, source));
  const missing = snap.paths.filter((x) => !dest(x));
  if (missing.length) throw new Error(`${j.app} has no volume named ${missing.map((x) => volumeNameOf(x, j.project, source)).join(", ")} here`);
  await held(m, j, p, async () => {
    // Staged beside the volumes (their filesystem, their room), not on skiff's state disk.
    const tmp = mkdtempSync(join(dirname(dest(snap.paths[0]!)!), ".skiff-restore-"));
    try {
      const r = await restic.run(["restore", snap.id, "--target", tmp]);
      if (r.code !== 0) throw new Error(`restic restore failed: ${lastLines(r.stderr)}`);
      // Each volume is swapped whole: the old one aside, the restored one in its place, the old one gone.
      for (const from of snap.paths) {
        const path = dest(from)!;
        // Restored beside the volume first (a Docker volume is on another filesystem than skiff's state: a rename
        // across them fails), so that the swap itself is two renames.
        const fresh = `${path}.skiff-new-${process.pid}`;
        try {
          renameSync(join(tmp, from), fresh);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== "EXDEV") throw e;
          runSystem(["cp", "-a", "--", join(tmp, from), fresh], `copying the restored ${path} into place`);
        }
        const aside = `${path}.skiff-old-${process.pid}`;
        renameSync(path, aside);
        renameSync(fresh, path);
        rmSync(aside, { recursive: true, force: true });
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
}


/** Reads a snapshot back completely without touching the live service, and says what is in it. */
export function verify(b: Backups, m: Machine, p: RestoreParams): Promise<VerifyResult> {
  let j: BackupJob;
  try {
    j = b.job(p.project, p.app);
  } catch (e) {
    return Promise.resolve({ ok: false, reason: (e as Error).message });
  }
  return b.withRepo(j, () => verifyLocked(b, m, p, j));
}

async function verifyLocked(b: Backups, m: Machine, p: RestoreParams, j: BackupJob): Promise<VerifyResult> {
  try {
    const snap = await pick(b, j, machineName(m.store), p.snapshot);
    const restic = new Restic(j, b.dir);
    const check = await restic.run(["check"]);
    if (check.code !== 0) throw new Error(`restic check: ${lastLines(check.stderr)}`);
    if (j.kind === "redis") {
      const d = restic.spawn(["dump", snap.id, `/${RDB_FILE}`]);
      let head = Buffer.alloc(0);
      let bytes = 0;
      d.stdout!.on("data", (b: Buffer) => ((bytes += b.length), head.length < 5 && (head = Buffer.concat([head, b]).subarray(0, 5))));
      const r = await collect(d, { piped: true });
      if (r.code !== 0) throw new Error(`restic dump failed: ${lastLines(r.stderr)}`);
      if (head.toString("latin1") !== "REDIS") throw new Error("the snapshot's dump.rdb does not start as an RDB file does");
      return { ok: true, snapshot: snap.id, bytes };
    }
    if (j.kind === "postgres") {
      // Read as it streams: counted line by line, never held whole.
      const d = restic.spawn(["dump", snap.id, `/${DUMP_FILE}`]);
      const rows = new RowCounter();
      let bytes = 0;
      d.stdout!.setEncoding("utf8").on("data", (s: string) => ((bytes += Buffer.byteLength(s)), rows.feed(s)));
      const r = await collect(d, { piped: true });
      if (r.code !== 0) throw new Error(`restic dump failed: ${lastLines(r.stderr)}`);
      const tables = rows.end();
      if (!rows.complete) throw new Error("the dump ends before pg_dumpall's last line: it is cut short");
      return { ok: true, snapshot: snap.id, tables, bytes };
    }
    // Read back beside the volumes when there are some here (their room, not the state disk's).
    const [near] = await b.volumePaths(j);
    const tmp = mkdtempSync(join(near ? dirname(near) : b.dir, ".skiff-verify-"));
    try {
      const r = await restic.run(["restore", snap.id, "--target", tmp, "--verify"]);
      if (r.code !== 0) throw new Error(`restic restore --verify: ${lastLines(r.stderr)}`);
      const stats = await restic.run(["stats", snap.id, "--json", "--mode", "restore-size"]);
      const s = JSON.parse(stats.stdout || "{}") as { total_size?: number; total_file_count?: number };
      return { ok: true, snapshot: snap.id, files: s.total_file_count ?? 0, bytes: s.total_size ?? 0 };
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  } catch (e) {
    return { ok: false, reason: (e as Error).message };
  }
}
