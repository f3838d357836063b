// Pure: which machines hold which backup jobs, and where each repository is. A job goes to the machines that may
// run its service (an accessory's one; an app's eligible ones), each of which backs up what it runs.
import type { AppSpec, Project } from "../config/model.ts";
import { BACKUP_DATA, BACKUP_USER, repoPath, type BackupJob, type BackupRepo } from "../contracts/backups.ts";

export const backedUp = (project: Project): AppSpec[] => Object.values(project.apps).filter((a) => a.backups);

/** Machines that hold a service's job besides those it may run on: where a moving accessory runs now (it is
 *  backed up there before it stops). */
export type AlsoOn = Map<string, string[]>;

/** The machines a service may run on (where its backups run). */
export function backupMachines(project: Project, app: AppSpec, also: AlsoOn = new Map()): string[] {
  if (app.accessory) return [...new Set([app.accessory.machine, ...(also.get(app.name) ?? [])])];
  const names = app.placement.machines ?? Object.keys(project.machines);
  return names.filter((m) => Object.hasOwn(project.machines, m) && app.placement.labels.every((l) => project.machines[m]!.labels.includes(l)));
}

/** The machine-to-machine targets: target machine → the source machines whose keys it must accept. */
export function sftpTargets(project: Project, also: AlsoOn = new Map()): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const a of backedUp(project)) {
    const to = a.backups!.to;
    if (to.kind !== "machine") continue;
    out.set(to.machine, [...new Set([...(out.get(to.machine) ?? []), ...backupMachines(project, a, also)])].sort());
  }
  return out;
}

/** Where a service's repository is, as its machines reach it (`hostKeys`: the target's, as it answered). */
export function repoFor(project: Project, app: AppSpec, hostKeys: Map<string, string[]>): BackupRepo {
  const to = app.backups!.to;
  if (to.kind === "dir") return { kind: "dir", path: repoPath(to.path, project.name, app.name) };
  if (to.kind === "s3") return { kind: "s3", url: `${to.url.replace(/\/+$/, "")}/${project.name}/${app.name}` };
  const m = project.machines[to.machine]!;
  return { kind: "sftp", user: BACKUP_USER, host: m.privateAddress!, port: 22, path: repoPath(to.path ?? BACKUP_DATA, project.name, app.name), hostKeys: hostKeys.get(to.machine) ?? [] };
}

/** Each machine's jobs (every machine of the project gets its list, maybe empty: a job removed from skiff.yml goes). */
export function backupJobs(project: Project, secrets: Record<string, string>, hostKeys: Map<string, string[]>, also: AlsoOn = new Map()): Map<string, BackupJob[]> {
  const out = new Map<string, BackupJob[]>(Object.keys(project.machines).map((m) => [m, []]));
  for (const a of backedUp(project)) {
    const b = a.backups!;
    const password = secrets[b.passwordSecret];
    if (password === undefined) throw new Error(`backups of ${a.name} are encrypted with the secret ${b.passwordSecret}, which is not set`);
    const env = b.to.kind === "s3" ? Object.fromEntries(["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"].filter((k) => secrets[k] !== undefined).map((k) => [k, secrets[k]!])) : undefined;
    const job: BackupJob = { project: project.name, app: a.name, kind: b.kind, schedule: b.schedule, keep: b.keep, repo: repoFor(project, a, hostKeys), password, ...(env ? { env } : {}) };
    for (const m of backupMachines(project, a, also)) out.get(m)?.push(job);
  }
  return out;
}
