// The CLI's side of backups at each deploy, before anything moves: targets on other machines made ready (the
// backup user, the sources' keys; their host keys come back to be pinned), then every machine told its jobs. The
// repository password is read from the secrets here and travels only inside the RPC (never argv, never printed).
import type { Project } from "../config/model.ts";
import type { Reporter } from "../contracts/events.ts";
import { UserError } from "../errors.ts";
import { backedUp, backupJobs, sftpTargets, type AlsoOn } from "../plan/backups.ts";
import { readSecrets } from "../secrets/store.ts";
import { AgentRefused, type AgentClient } from "../transport/agent-client.ts";

/** The secrets the backups need, read once; a password that is not set is refused here, before any machine is
 *  asked anything (so "nothing was changed" holds whatever runs beside syncBackups). */
export async function backupSecrets(project: Project): Promise<Record<string, string>> {
  const services = backedUp(project);
  if (!services.length) return {};
  const secrets = await readSecrets(project);
  const missing = [...new Set(services.map((a) => a.backups!.passwordSecret).filter((n) => secrets[n] === undefined))];
  if (missing.length) throw new UserError(`backups are encrypted with the secret ${missing.join(", ")}, which is not set${project.environment ? ` for ${project.environment}` : ""}; nothing was changed`, { exitCode: 2, hint: `\`skiff secrets set ${missing[0]}\` (a long random value; keep it: no backup can be read without it)` });
  return secrets;
}

/** `secrets`: what backupSecrets returned, when the caller checked them first. */
export async function syncBackups(clients: AgentClient[], project: Project, reporter: Reporter, also: AlsoOn = new Map(), checked?: Record<string, string>): Promise<void> {
  const services = backedUp(project);
  const secrets = checked ?? (await backupSecrets(project));
  const by = new Map(clients.map((c) => [c.machine, c]));
  const hostKeys = new Map<string, string[]>();
  const down = new Set<string>();
  for (const [target, sources] of sftpTargets(project, also)) {
    const t = by.get(target);
    if (!t) {
      down.add(target);
      reporter.emit({ type: "note", machine: target, message: "backup target unreachable: the machines that back up to it keep their last backup settings" });
      continue;
    }
    const answering = sources.filter((s) => by.has(s));
    const keys = (await Promise.all(answering.map((s) => by.get(s)!.call("backups.key", { machine: s })))).map((k) => k.publicKey);
    // A source that did not answer keeps the access it had (its key is not known now).
    const bases = [...new Set(services.flatMap((a) => (a.backups!.to.kind === "machine" && a.backups!.to.machine === target && a.backups!.to.path ? [a.backups!.to.path] : [])))];
    hostKeys.set(target, (await t.call("backups.store", { project: project.name, keys, merge: answering.length < sources.length, bases })).hostKeys);
  }
  const jobs = backupJobs(project, secrets, hostKeys, also);
  const stale = new Set(services.filter((a) => a.backups!.to.kind === "machine" && down.has(a.backups!.to.machine)).map((a) => a.name));
  await Promise.all(
    clients.map(async (c) => {
      const list = jobs.get(c.machine) ?? [];
      // Its target's host keys are not known this time: its jobs stay as they were (an empty pin would fail them all).
      if (list.some((j) => stale.has(j.app))) return;
      // An empty list too: backups taken out of skiff.yml stop on the machines. (An agent from before backups
      // knows no such method: with nothing to set, that is fine.)
      const r = await c.call("backups.set", { project: project.name, jobs: list }).catch((e: unknown) => {
        if (!list.length && e instanceof AgentRefused && e.code === "ENOMETHOD") return { changed: false };
        throw e;
      });
      if (r.changed && list.length) reporter.emit({ type: "step", machine: c.machine, step: `backups: ${list.map((j) => `${j.app} (${j.schedule})`).join(", ")}`, status: "ok", ms: 0 });
    }),
  );
}
