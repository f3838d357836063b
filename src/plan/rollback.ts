// Pure: which release a rollback goes back to (the earlier one that served
// last and was not rolled back from, or the one asked for), checked against
// what every machine keeps, and what changes where.
import { localCount, type HistoryEntry } from "../contracts/model.ts";
import { previousRelease, servedFacts } from "../contracts/served.ts";
import type { Project } from "../config/model.ts";
import { UserError } from "../errors.ts";
import { diffSpecs } from "./diff.ts";
import { batches, type MachineChange, type RollbackPlan } from "./model.ts";
import { nameChanges } from "./names.ts";
import { activeSpec, specOn, type Observed, type ObservedMachine } from "./observed.ts";
import { selectApps } from "./release-spec.ts";

/** The release a plain rollback of `app` goes back to by one machine's whole history (see previousRelease). */
export function previousGood(history: HistoryEntry[], app: string, active: number): number | undefined {
  return previousRelease([servedFacts(history, app)], active).to;
}

/** The target of an app's rollback, or a UserError saying why there is none. `passedOver`: releases a plain
 *  rollback left out because they were rolled back from. */
export function rollbackTarget(o: Observed, app: string, to?: number): { to: number; chosen: "previous good" | "asked"; passedOver?: number[] } {
  const lists = o.machines.map((m) => m.apps[app] ?? { releases: [], active: null });
  const active = Math.max(0, ...lists.map((l) => l.active ?? 0));
  if (!active) throw new UserError(`${app} has never been deployed here; nothing to roll back to`);
  let target = to;
  let passedOver: number[] = [];
  if (target === undefined) {
    // A damaged record is skipped: the choice is made from the rest (the executor tells the person).
    const prev = previousRelease(o.machines.map((m) => m.served?.[app] ?? servedFacts(m.history ?? [], app)), active);
    passedOver = prev.passedOver;
    target = prev.to;
    if (target === undefined && passedOver.length) {
      throw new UserError(`${app}: every earlier release that served was rolled back from (${passedOver.join(", ")}; active: ${active})`, { hint: "name one with --to N if you want it back; `skiff history` lists them" });
    }
    if (target === undefined) throw new UserError(`${app}: no earlier release that served successfully (active: ${active})`, { hint: "name one with --to N; `skiff history` lists them" });
  }
  const missing = o.machines.filter((_, i) => !lists[i]!.releases.includes(target!)).map((m) => m.machine);
  if (missing.length) {
    const kept = [...new Set(lists.flatMap((l) => l.releases))].sort((a, b) => a - b).join(", ");
    throw new UserError(`${app}: release ${target} is not on ${missing.join(", ")} (kept: ${kept})`, { hint: "pick a kept release with --to N" });
  }
  return { to: target, chosen: to === undefined ? "previous good" : "asked", ...(passedOver.length ? { passedOver } : {}) };
}

function machineChange(m: ObservedMachine, app: string, to: number): MachineChange {
  const from = m.apps[app]?.active ?? null;
  if (from === to) return { machine: m.machine, from, start: 0, stop: 0, changes: [] };
  const target = specOn(m, app, to);
  const current = specOn(m, app, from);
  const changes = target ? diffSpecs(current ?? undefined, target) : [];
  // Two releases alike in every setting still differ in number: the switch is the change.
  if (!changes.length) changes.push({ key: "release", from: String(from), to: String(to) });
  return { machine: m.machine, from, start: target ? localCount(target, m.machine) : 0, stop: current ? localCount(current, m.machine) : 0, changes };
}

export function planRollback(project: Project, o: Observed, opts: { apps: string[]; to?: number; maxParallel?: number }): RollbackPlan {
  const apps = selectApps(project, opts.apps, { appsOnly: true }).map((a) => {
    const { to, chosen, passedOver } = rollbackTarget(o, a.name, opts.to);
    // A rollback goes back to a release that served: all machines at once unless told otherwise.
    // Its names change when the target serves another TCP port or protocol (known only when the specs were read).
    const now = activeSpec(o, a.name);
    const target = o.machines.map((m) => specOn(m, a.name, to)).find((x) => x !== null) ?? null;
    const names = now && target ? nameChanges(now, target) : [];
    return { app: a.name, to, chosen, ...(passedOver ? { passedOver } : {}), machines: o.machines.map((m) => machineChange(m, a.name, to)), batches: batches(o.machines.map((m) => m.machine), opts.maxParallel ?? o.machines.length), ...(names.length ? { names } : {}) };
  });
  return { action: "rollback", project: project.name, apps, skipped: o.unreachable };
}
