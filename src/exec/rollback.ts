// skiff rollback: activate an older release whole (image and config) through
// the same safe sequence. Everything it needs is already on the machines:
// lock → observe → plan (the target) → rollout per app → unlock. With dryRun:
// observe and plan only, without the lock.
import { randomUUID } from "node:crypto";
import type { Project } from "../config/model.ts";
import { UserError } from "../errors.ts";
import type { Reporter } from "../contracts/events.ts";
import type { RollbackPlan } from "../plan/model.ts";
import type { Observed } from "../plan/observed.ts";
import { selectApps } from "../plan/release-spec.ts";
import { planRollback } from "../plan/rollback.ts";
import { withAgentClients, type AgentClient } from "../transport/agent-client.ts";
import { syncAlerts } from "./alerts.ts";
import { backupOnMachine } from "./backup-ops.ts";
import { syncFirewall } from "./firewall.ts";
import { whoAmI, withDeployLock } from "./lock.ts";
import { observe, rollbackSpecs } from "./observe.ts";
import type { PlanEffects } from "./plan.ts";
import { rollout, type RolloutResult } from "./rollout.ts";
import { allInOrder } from "../lib/parallel.ts";

export interface RollbackOptions {
  apps: string[];
  to?: number;
  maxParallel?: number;
  skipUnreachable?: boolean;
  /** Go ahead when an accessory (a database) is rolled back: it stops, and the older release starts on the same
   *  volumes (a backup first when it has backups). Without it such a rollback is refused before anything changes. */
  restartAccessories?: boolean;
  reporter: Reporter;
  interrupted?: () => boolean;
  dryRun?: boolean;
  effects?: Pick<PlanEffects, "observe">;
}

export interface RollbackOutcome {
  app: string;
  /** Release active on each machine before (null: none), in the plan's machine order. */
  from: (number | null)[];
  to: number;
  result: RolloutResult;
}

/** Where a rollback's time went (ms): reaching the machines and taking the lock; firewall, alerts and the plan's
 *  reads; the rollouts; giving the lock back and closing the connections. */
export interface RollbackPhases {
  lock: number;
  plan: number;
  rollout: number;
  release: number;
}

export interface RollbackResult {
  plan: RollbackPlan;
  dryRun: boolean;
  outcomes: RollbackOutcome[];
  /** Absent for a dry run. */
  phases?: RollbackPhases;
  /** Wall time from the start to the lock given back. */
  ms?: number;
}

async function observeAndPlan(clients: AgentClient[], project: Project, opts: RollbackOptions, unreachable?: string[]): Promise<{ plan: RollbackPlan; observed: Observed }> {
  const apps = selectApps(project, opts.apps, { appsOnly: true }).map((a) => a.name);
  const observed = await (opts.effects?.observe ?? observe)(clients, project, { apps, history: opts.to === undefined, specs: rollbackSpecs(opts.to), rollback: { to: opts.to }, unreachable, skipUnreachable: opts.skipUnreachable });
  // A damaged record is skipped; the choice is made from the rest, and the person is told.
  for (const m of observed.machines) if (m.damaged?.length) opts.reporter.emit({ type: "note", machine: m.machine, message: `${m.damaged.length} damaged record(s) in history.jsonl skipped (line ${m.damaged.join(", ")})` });
  return { plan: planRollback(project, observed, opts), observed };
}

export async function rollback(project: Project, opts: RollbackOptions): Promise<RollbackResult> {
  const apps = selectApps(project, opts.apps, { appsOnly: true });
  // Checked before the lock is taken: a bad number must not hold it (0 once looped forever).
  if (opts.maxParallel !== undefined && !(Number.isInteger(opts.maxParallel) && opts.maxParallel >= 1)) throw new UserError(`--max-parallel must be a whole number of machines, at least 1 (got ${opts.maxParallel})`, { exitCode: 2 });
  if (opts.to !== undefined && !(Number.isInteger(opts.to) && opts.to >= 1)) throw new UserError(`--to must be a release number (a whole number, at least 1; got ${opts.to})`, { exitCode: 2, hint: "`skiff history` lists them" });
  if (opts.dryRun) {
    return withAgentClients(project, async (clients) => ({ plan: (await observeAndPlan(clients, project, opts)).plan, dryRun: true, outcomes: [] }));
  }
  const by = whoAmI();
  const deployId = randomUUID();
  const t0 = Date.now();
  let t = t0;
  const lap = () => -t + (t = Date.now());
  const phases: RollbackPhases = { lock: 0, plan: 0, rollout: 0, release: 0 };
  const done = await withDeployLock(project, `rollback ${apps.map((a) => a.name).join(" ")}`, { skipUnreachable: opts.skipUnreachable }, async (lock) => {
    phases.lock = lap();
    // Before anything moves: a machine whose firewall cannot be set is named now, not half way through. The
    // three are independent (the plan only reads): one round trip to the machines, not three.
    const [, , { plan }] = await allInOrder([syncFirewall(lock.clients, project, opts.reporter), syncAlerts(lock.clients, project, opts.reporter), observeAndPlan(lock.clients, project, opts, lock.unreachable.map((u) => u.machine))]);
    phases.plan = lap();
    // An accessory rolled back is an upgrade in reverse: it stops and the older release starts on its volumes.
    const stops = plan.apps.filter((a) => project.apps[a.app]!.accessory && a.machines.some((m) => m.from !== null && m.from !== a.to));
    if (stops.length && !opts.restartAccessories) {
      throw new UserError(`this rollback would stop ${stops.map((a) => `${a.app} (an accessory; release ${a.to} would start on its volumes)`).join(", ")}; nothing was changed`, { hint: `run again with --yes to go ahead (${stops.some((a) => project.apps[a.app]!.backups) ? "a backup is taken first" : "it has no backups: configure backups: to have one taken first"})` });
    }
    const outcomes: RollbackOutcome[] = [];
    for (const a of plan.apps) {
      const spec = project.apps[a.app]!;
      const backedUp = stops.includes(a) && Boolean(spec.backups);
      if (backedUp) {
        const c = lock.clients.find((x) => x.machine === spec.accessory!.machine);
        const b = c ? await backupOnMachine(c, project.name, a.app, { by, keepAll: true, reporter: opts.reporter, after: "before it stops" }) : undefined;
        if (b && !b.ok) throw new UserError(`${b.machine}: ${a.app}: the backup before the rollback failed: ${b.reason}; ${a.app} was not changed`, { hint: `fix the backup (\`skiff backup run ${a.app}\`) and roll back again` });
      }
      if (a.passedOver) opts.reporter.emit({ type: "note", message: `${a.app}: back to release ${a.to}, the one that served before (not ${a.passedOver.join(", ")}: rolled back from)` });
      const previous = new Map(a.machines.map((m) => [m.machine, m.from]));
      const result = await rollout({
        project: project.name, app: a.app, target: a.to, previous, clients: lock.clients, maxParallel: opts.maxParallel ?? lock.clients.length,
        action: "rollback", deployId, by, keepWarm: project.apps[a.app]!.deploy.keepWarm, tcp: project.apps[a.app]!.protocol === "tcp", reporter: opts.reporter, interrupted: opts.interrupted ?? (() => false), checkLock: lock.check,
        // The lock was taken one round trip ago (firewall, alerts and the plan's reads since): the first app's first
        // wave starts without asking every machine again, unless a backup ran meanwhile.
        lockJustChecked: outcomes.length === 0 && !backedUp,
      });
      outcomes.push({ app: a.app, from: a.machines.map((m) => m.from), to: a.to, result });
      if (!result.ok) break;
    }
    phases.rollout = lap();
    return { plan, dryRun: false, outcomes };
  });
  phases.release = lap();
  return { ...done, phases, ms: Date.now() - t0 };
}
