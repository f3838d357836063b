// skiff restart: new instances of the active release, through the deploy's own
// safe sequence — lock → observe → plan → rollout in the app's waves, each
// machine starting the new instances first, gating them on health, switching
// and draining the old (agent activation, action "restart"). Recorded in
// history as "restart". With dryRun: observe and plan only, without the lock.
import { randomUUID } from "node:crypto";
import type { Project } from "../config/model.ts";
import type { Reporter } from "../contracts/events.ts";
import { selectApps } from "../plan/release-spec.ts";
import { planRestart, type RestartPlan } from "../plan/restart.ts";
import { withAgentClients, type AgentClient } from "../transport/agent-client.ts";
import { whoAmI, withDeployLock } from "./lock.ts";
import { observe } from "./observe.ts";
import { rollout, type RolloutResult } from "./rollout.ts";

export interface RestartOptions {
  apps: string[];
  machine?: string;
  reporter: Reporter;
  interrupted?: () => boolean;
  dryRun?: boolean;
}

export interface RestartOutcome {
  app: string;
  release: number;
  result: RolloutResult;
}

export interface RestartResult {
  plan: RestartPlan;
  dryRun: boolean;
  outcomes: RestartOutcome[];
}

async function observeAndPlan(clients: AgentClient[], project: Project, opts: RestartOptions, unreachable?: string[]): Promise<RestartPlan> {
  const apps = selectApps(project, opts.apps, { appsOnly: true }).map((a) => a.name);
  // The active spec on each machine says how many instances it runs there.
  const observed = await observe(clients, project, { apps, specs: (_o, app, m) => [m.apps[app]?.active ?? null], unreachable, skipUnreachable: unreachable !== undefined });
  return planRestart(project, observed, opts);
}

export async function restart(project: Project, opts: RestartOptions): Promise<RestartResult> {
  const apps = selectApps(project, opts.apps, { appsOnly: true });
  if (opts.dryRun) return withAgentClients(project, async (clients) => ({ plan: await observeAndPlan(clients, project, opts), dryRun: true, outcomes: [] }));
  const by = whoAmI();
  const deployId = randomUUID();
  const what = `restart ${apps.map((a) => a.name).join(" ")}${opts.machine ? ` on ${opts.machine}` : ""}`;
  return withDeployLock(project, what, {}, async (lock) => {
    const plan = await observeAndPlan(lock.clients, project, opts, lock.unreachable.map((u) => u.machine));
    const outcomes: RestartOutcome[] = [];
    for (const a of plan.apps) {
      const result = await rollout({
        project: project.name, app: a.app, target: a.release, previous: new Map(a.machines.map((m) => [m.machine, a.release])),
        clients: lock.clients, waves: a.batches, onlyWaves: true, action: "restart", deployId, by,
        keepWarm: project.apps[a.app]!.deploy.keepWarm, canaryWaitMs: project.apps[a.app]!.deploy.canaryWaitMs,
        placement: Object.fromEntries(a.machines.map((m) => [m.machine, m.instances])),
        reporter: opts.reporter, interrupted: opts.interrupted ?? (() => false), checkLock: lock.check,
      });
      outcomes.push({ app: a.app, release: a.release, result });
      if (!result.ok) break;
    }
    return { plan, dryRun: false, outcomes };
  });
}
