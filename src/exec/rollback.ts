// skiff rollback: activate an older release whole (image and config) through
// the same safe sequence. Everything it needs is already on the machines.
import { randomUUID } from "node:crypto";
import type { HistoryEntry } from "../contracts/model.ts";
import type { Project } from "../config/model.ts";
import { UserError } from "../errors.ts";
import type { Reporter } from "../contracts/events.ts";
import { selectApps } from "./deploy.ts";
import { whoAmI, withDeployLock } from "./lock.ts";
import { rollout, type RolloutResult } from "./rollout.ts";

/** The release to go back to: the newest one below `active` that once served successfully. */
export function previousGood(history: HistoryEntry[], app: string, active: number): number | undefined {
  const good = history.filter((h) => h.app === app && h.result === "ok" && (h.action === "deploy" || h.action === "rollback" || h.action === "scale") && h.release < active).map((h) => h.release);
  return good.length ? Math.max(...good) : undefined;
}

export async function rollback(project: Project, opts: { apps: string[]; to?: number; maxParallel?: number; skipUnreachable?: boolean; reporter: Reporter; interrupted?: () => boolean }): Promise<{ app: string; from: (number | null)[]; to: number; result: RolloutResult }[]> {
  const apps = selectApps(project, opts.apps);
  // Checked before the lock is taken: a bad number must not hold it (0 once looped forever).
  if (opts.maxParallel !== undefined && !(Number.isInteger(opts.maxParallel) && opts.maxParallel >= 1)) throw new UserError(`--max-parallel must be a whole number of machines, at least 1 (got ${opts.maxParallel})`, { exitCode: 2 });
  if (opts.to !== undefined && !(Number.isInteger(opts.to) && opts.to >= 1)) throw new UserError(`--to must be a release number (a whole number, at least 1; got ${opts.to})`, { exitCode: 2, hint: "`skiff history` lists them" });
  const by = whoAmI();
  const deployId = randomUUID();
  return withDeployLock(project, `rollback ${apps.map((a) => a.name).join(" ")}`, { skipUnreachable: opts.skipUnreachable }, async (lock) => {
    const out = [];
    for (const app of apps) {
      const lists = await Promise.all(lock.clients.map((c) => c.call<{ releases: number[]; active: number | null }>("release.list", { project: project.name, app: app.name })));
      const actives = lists.map((l) => l.active);
      const active = Math.max(...actives.map((a) => a ?? 0));
      if (!active) throw new UserError(`${app.name} has never been deployed here; nothing to roll back to`);
      let to = opts.to;
      if (to === undefined) {
        type Report = { entries: HistoryEntry[]; damaged: { line: number }[] };
        const reports = await Promise.all(lock.clients.map((c) => c.call<Report>("history", { project: project.name, app: app.name, report: true })));
        // A damaged record is skipped; the choice is made from the rest, and the person is told.
        reports.forEach((r, i) => r.damaged.length && opts.reporter.emit({ type: "note", machine: lock.clients[i]!.machine, message: `${r.damaged.length} damaged record(s) in history.jsonl skipped (line ${r.damaged.map((d) => d.line).join(", ")})` }));
        const history = reports.flatMap((r) => r.entries);
        to = previousGood(history, app.name, active);
        if (to === undefined) throw new UserError(`${app.name}: no earlier release that served successfully (active: ${active})`, { hint: "name one with --to N; `skiff history` lists them" });
      }
      const missing = lock.clients.filter((_, i) => !lists[i]!.releases.includes(to!)).map((c) => c.machine);
      if (missing.length) {
        const kept = [...new Set(lists.flatMap((l) => l.releases))].sort((a, b) => a - b).join(", ");
        throw new UserError(`${app.name}: release ${to} is not on ${missing.join(", ")} (kept: ${kept})`, { hint: "pick a kept release with --to N" });
      }
      const previous = new Map(lock.clients.map((c, i) => [c.machine, actives[i]!]));
      const result = await rollout({
        // A rollback goes back to a release that served: all machines at once unless told otherwise.
        project: project.name, app: app.name, target: to, previous, clients: lock.clients, maxParallel: opts.maxParallel ?? lock.clients.length,
        action: "rollback", deployId, by, keepWarm: app.deploy.keepWarm, reporter: opts.reporter, interrupted: opts.interrupted ?? (() => false), checkLock: lock.check,
      });
      out.push({ app: app.name, from: actives, to, result });
      if (!result.ok) break;
    }
    return out;
  });
}
