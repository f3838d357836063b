// skiff scale app=N: lock → observe → plan (the active release with a new
// instance count and the placement that gives, recorded as a release of its
// own) → store → rollout like a deploy → unlock. Nothing is built: the image
// (or artifact) and config stay as they are. With dryRun: observe and plan only.
import { randomUUID } from "node:crypto";
import type { Project } from "../config/model.ts";
import type { Reporter } from "../contracts/events.ts";
import type { ScalePlan } from "../plan/model.ts";
import type { Observed } from "../plan/observed.ts";
import { previousReleases, selectApps } from "../plan/release-spec.ts";
import { planScale, scaledSpec, type ScaleTarget } from "../plan/scale.ts";
import { withAgentClients, type AgentClient } from "../transport/agent-client.ts";
import { putRelease } from "./deploy.ts";
import { whoAmI, withDeployLock } from "./lock.ts";
import { deploySpecs, observe } from "./observe.ts";
import type { PlanEffects } from "./plan.ts";
import { rollout, type RolloutResult } from "./rollout.ts";

export interface ScaleOptions {
  reporter: Reporter;
  interrupted?: () => boolean;
  dryRun?: boolean;
  effects?: Pick<PlanEffects, "observe">;
}

export interface ScaleOutcome {
  app: string;
  from: number;
  to: number;
  release: number;
  placement: Record<string, number>;
  result: RolloutResult;
}

export interface ScaleResult {
  plan: ScalePlan;
  dryRun: boolean;
  outcomes: ScaleOutcome[];
}

async function observeAndPlan(clients: AgentClient[], project: Project, targets: ScaleTarget[], opts: ScaleOptions, meta: { by: string; createdAt: string }): Promise<{ plan: ScalePlan; observed: Observed }> {
  const apps = targets.map((t) => t.app);
  const observed = await (opts.effects?.observe ?? observe)(clients, project, { apps, capacity: true, specs: deploySpecs });
  return { plan: planScale(project, observed, { targets, ...meta }), observed };
}

export async function scale(project: Project, targets: ScaleTarget[], opts: ScaleOptions): Promise<ScaleResult> {
  selectApps(project, targets.map((t) => t.app));
  const meta = { by: whoAmI(), createdAt: new Date().toISOString() };
  if (opts.dryRun) {
    return withAgentClients(project, async (clients) => ({ plan: (await observeAndPlan(clients, project, targets, opts, meta)).plan, dryRun: true, outcomes: [] }));
  }
  const deployId = randomUUID();
  return withDeployLock(project, `scale ${targets.map((t) => `${t.app}=${t.instances}`).join(" ")}`, {}, async (lock) => {
    const { plan, observed } = await observeAndPlan(lock.clients, project, targets, opts, meta);
    const outcomes: ScaleOutcome[] = [];
    for (const a of plan.apps) {
      const app = project.apps[a.app]!;
      const spec = { ...scaledSpec(project, observed, { app: a.app, instances: a.to }, meta).spec, release: a.release };
      // A machine that now runs instances gets the full spec (secrets included) with this new release.
      await putRelease(lock.clients, spec);
      const result = await rollout({
        project: project.name, app: a.app, target: a.release, previous: previousReleases(observed, a.app), clients: lock.clients, waves: a.batches,
        action: "scale", deployId, by: meta.by, keepWarm: app.deploy.keepWarm, reporter: opts.reporter, interrupted: opts.interrupted ?? (() => false), checkLock: lock.check,
      });
      outcomes.push({ app: a.app, from: a.from, to: a.to, release: a.release, placement: a.placement, result });
      if (!result.ok) break;
    }
    return { plan, dryRun: false, outcomes };
  });
}
