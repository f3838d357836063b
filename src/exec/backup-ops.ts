// skiff backup run|list|restore|verify NAME: asked of the machines that run the service (each backs up what it
// runs). A restore changes live data: it takes the deploy lock and makes a backup first, so what it replaces can
// be had back.
import type { AppSpec, Project } from "../config/model.ts";
import type { BackupRun, Snapshot, VerifyResult } from "../contracts/backups.ts";
import type { Reporter } from "../contracts/events.ts";
import { UserError } from "../errors.ts";
import { backupMachines } from "../plan/backups.ts";
import { selectApps } from "../plan/release-spec.ts";
import { agentClients, type AgentClient } from "../transport/agent-client.ts";
import { whoAmI, withDeployLock } from "./lock.ts";
import { runJob } from "./rollout.ts";

export type { VerifyResult };

export interface BackupOutcome extends BackupRun {
  machine: string;
}

/** A snapshot named on the command line: 8 hex characters at least (restic's short ID), so one name is one snapshot. */
export function checkSnapshotId(id: string | undefined): void {
  if (id !== undefined && !/^[0-9a-f]{8,64}$/.test(id)) throw new UserError(`--snapshot ${JSON.stringify(id)} is not a snapshot ID`, { exitCode: 2, hint: "8 or more hex characters, as `skiff backup list NAME` shows them" });
}

function service(project: Project, name: string): AppSpec {
  const [a] = selectApps(project, [name]);
  if (!a!.backups) throw new UserError(`${name} has no backups: configured`, { hint: `add backups: { to: …, schedule: "0 3 * * *" } to ${name} in skiff.yml, then deploy` });
  return a!;
}

/** The channels to the machines that run it (closed after `fn`). */
async function withServiceClients<T>(project: Project, a: AppSpec, fn: (clients: AgentClient[]) => Promise<T>): Promise<T> {
  const names = new Set(backupMachines(project, a));
  const clients = agentClients(project).filter((c) => names.has(c.machine));
  try {
    return await fn(clients);
  } finally {
    for (const c of clients) c.close();
  }
}

/** One backup job on one machine, shown as a step ("db: backup 1a2b3c4d", then `after`). */
export async function backupOnMachine(c: AgentClient, project: string, app: string, o: { by: string; keepAll?: boolean; reporter: Reporter; after?: string; final?: boolean; holder?: string }): Promise<BackupOutcome> {
  const started = Date.now();
  const after = o.after ? ` ${o.after}` : "";
  o.reporter.emit({ type: "step", machine: c.machine, step: `${app}: backup${after}`, status: "start" });
  const r = await runJob<BackupRun>(c, "backup.run", { project, app, by: o.by, keepAll: o.keepAll ?? false, ...(o.final ? { final: true, holder: o.holder } : {}) }, "backup");
  o.reporter.emit({ type: "step", machine: c.machine, step: `${app}: backup${r.snapshot ? ` ${r.snapshot.slice(0, 8)}` : r.skipped ? ` skipped: ${r.skipped}` : ""}${after}`, status: r.ok ? "ok" : "failed", ms: Date.now() - started });
  return { ...r, machine: c.machine };
}

/** One restore job on one machine, shown as a step (`what`: the snapshot and where from; `done`: the finished step's
 *  words, when not "of <snapshot>"). */
export async function restoreOnMachine(c: AgentClient, params: { project: string; app: string; snapshot?: string; not?: string[]; into?: string; by: string; holder: string }, reporter: Reporter, what: string, done?: string): Promise<BackupOutcome> {
  const started = Date.now();
  reporter.emit({ type: "step", machine: c.machine, step: `${params.app}: restore ${what}`, status: "start" });
  const r = await runJob<BackupRun>(c, "backup.restore", params, "restore");
  reporter.emit({ type: "step", machine: c.machine, step: `${params.app}: restore${done !== undefined ? ` ${done}` : r.snapshot ? ` of ${r.snapshot.slice(0, 8)}` : ""}`, status: r.ok ? "ok" : "failed", ms: Date.now() - started });
  return { ...r, machine: c.machine };
}

/** Each of its machines backs up what it runs; a machine that runs none of it answers so. */
async function runOn(clients: AgentClient[], project: Project, name: string, reporter: Reporter, keepAll = false): Promise<BackupOutcome[]> {
  const by = whoAmI();
  const out = await Promise.all(clients.map((c) => backupOnMachine(c, project.name, name, { by, keepAll, reporter })));
  const ran = out.filter((r) => !r.skipped);
  if (!ran.length) throw new UserError(`${name} runs on none of ${clients.map((c) => c.machine).join(", ")} now: nothing to back up`, { hint: `\`skiff status ${name}\` shows where it runs; deploy it first` });
  return ran;
}

export function runBackup(project: Project, name: string, reporter: Reporter): Promise<BackupOutcome[]> {
  const a = service(project, name);
  return withServiceClients(project, a, (clients) => runOn(clients, project, name, reporter));
}

export function listBackups(project: Project, name: string): Promise<Snapshot[]> {
  const a = service(project, name);
  return withServiceClients(project, a, async (clients) => {
    let last: unknown;
    // One repository for the service: the first machine that answers reads it.
    for (const c of clients) {
      try {
        return (await c.call<Snapshot[]>("backup.list", { project: project.name, app: name })).sort((x, y) => x.time.localeCompare(y.time));
      } catch (e) {
        last = e;
      }
    }
    throw last ?? new UserError(`no machine runs ${name}`);
  });
}

export interface RestoreOutcome {
  /** The backup made first (what the restore replaced). */
  before: BackupOutcome[];
  restored: BackupOutcome[];
}

export async function restoreBackup(project: Project, name: string, o: { snapshot?: string; into?: string; reporter: Reporter }): Promise<RestoreOutcome> {
  checkSnapshotId(o.snapshot);
  const a = service(project, name);
  const by = whoAmI();
  // --into: another service (a scratch copy) on a machine that holds this one's backups; the source is not touched.
  const into = o.into !== undefined ? selectApps(project, [o.into])[0]! : undefined;
  if (into?.name === name) throw new UserError(`--into ${name} is ${name} itself`, { hint: `leave --into out to restore into ${name}` });
  const target = into ?? a;
  const names = new Set(backupMachines(project, target).filter((m) => backupMachines(project, a).includes(m)));
  if (!names.size) throw new UserError(`${target.name} runs on ${backupMachines(project, target).join(", ")}, where ${name}'s backups are not set up (${backupMachines(project, a).join(", ")})`, { hint: `run ${target.name} on ${backupMachines(project, a)[0]} (machine: in skiff.yml), deploy, then restore into it` });
  return withDeployLock(project, `backup restore ${name}${into ? ` into ${into.name}` : ""}`, { skipUnreachable: true }, async (lock) => {
    const clients = lock.clients.filter((c) => names.has(c.machine));
    if (!clients.length) throw new UserError(`no machine that runs ${target.name} answers; nothing was restored`);
    // The policy is not applied to this one: it could prune the very snapshot this restore is about to read. (Into
    // a scratch copy, nothing live is replaced: no backup first.)
    const before = into ? [] : await runOn(clients, project, name, o.reporter, true);
    const failed = before.find((b) => !b.ok);
    if (failed) throw new UserError(`${failed.machine}: the backup before the restore failed: ${failed.reason}; nothing was restored`, { hint: "fix what it says (or restore after `skiff backup run` works)" });
    // Where it runs (a backup-first was made there); into a scratch copy: where the copy runs.
    const where = into ? clients : clients.filter((c) => before.some((b) => b.machine === c.machine));
    const not = before.flatMap((b) => (b.snapshot ? [b.snapshot] : []));
    const params = { project: project.name, app: name, snapshot: o.snapshot, not, ...(into ? { into: into.name } : {}), by, holder: lock.holder };
    const restored = await Promise.all(where.map((c) => restoreOnMachine(c, params, o.reporter, `${o.snapshot ?? "latest"}${into ? ` into ${into.name}` : ""}`)));
    return { before, restored };
  });
}

export function verifyBackup(project: Project, name: string, o: { snapshot?: string }): Promise<(VerifyResult & { machine: string })[]> {
  checkSnapshotId(o.snapshot);
  const a = service(project, name);
  return withServiceClients(project, a, (clients) => Promise.all(clients.map(async (c) => ({ ...(await runJob<VerifyResult>(c, "backup.verify", { project: project.name, app: name, snapshot: o.snapshot }, "verify")), machine: c.machine }))));
}
