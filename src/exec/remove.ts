// skiff remove APP…: stop an app everywhere and forget it (instances, HAProxy
// backend, releases, images or artifacts). History stays. Under the deploy
// lock: observe → plan (what goes where) → remove. With dryRun: observe and
// plan only, without the lock.
import type { Project } from "../config/model.ts";
import { UserError } from "../errors.ts";
import type { RemovePlan } from "../plan/model.ts";
import { selectApps } from "../plan/release-spec.ts";
import { planRemove } from "../plan/remove.ts";
import { withAgentClients, type AgentClient } from "../transport/agent-client.ts";
import { withDeployLock } from "./lock.ts";
import { observe } from "./observe.ts";
import type { PlanEffects } from "./plan.ts";

export interface RemoveOptions {
  apps: string[];
  dryRun?: boolean;
  effects?: Pick<PlanEffects, "observe">;
}

export interface RemoveResult {
  plan: RemovePlan;
  dryRun: boolean;
  /** Per app, the instances each machine stopped. */
  removed: { app: string; machines: { machine: string; removed: number }[] }[];
}

const observeAndPlan = async (clients: AgentClient[], project: Project, opts: RemoveOptions): Promise<RemovePlan> =>
  planRemove(project, await (opts.effects?.observe ?? observe)(clients, project, { apps: opts.apps, capacity: true }), opts);

export async function remove(project: Project, opts: RemoveOptions): Promise<RemoveResult> {
  if (!opts.apps.length) throw new UserError("name the apps to remove", { hint: "skiff remove web --yes" });
  const apps = selectApps(project, opts.apps).map((a) => a.name);
  if (opts.dryRun) {
    return withAgentClients(project, async (clients) => ({ plan: await observeAndPlan(clients, project, { ...opts, apps }), dryRun: true, removed: [] }));
  }
  return withDeployLock(project, `remove ${opts.apps.join(" ")}`, {}, async (lock) => {
    const plan = await observeAndPlan(lock.clients, project, { ...opts, apps });
    const removed: RemoveResult["removed"] = [];
    // Every machine, whatever the plan saw there: a removal also clears what a failed deploy left behind.
    for (const a of plan.apps) removed.push({ app: a.app, machines: await Promise.all(lock.clients.map(async (c) => ({ machine: c.machine, ...(await c.call<{ removed: number }>("app.remove", { project: project.name, app: a.app })) }))) });
    return { plan, dryRun: false, removed };
  });
}
