// skiff scale app=N: the active release with a new instance count (and the
// placement that gives), recorded as a release of its own and rolled out like a
// deploy. Nothing is built: the image (or artifact) and config stay as they are.
import { randomUUID } from "node:crypto";
import type { ReleaseSpec } from "../contracts/model.ts";
import type { Project } from "../config/model.ts";
import { UserError } from "../errors.ts";
import { chooseRelease, putRelease, selectApps } from "./deploy.ts";
import type { Reporter } from "../contracts/events.ts";
import { whoAmI, withDeployLock } from "./lock.ts";
import { activeSpec, placeApp } from "./placement.ts";
import { rollout, type RolloutResult } from "./rollout.ts";

export async function scale(project: Project, targets: { app: string; instances: number }[], opts: { reporter: Reporter; interrupted?: () => boolean }): Promise<{ app: string; from: number; to: number; release: number; placement: Record<string, number>; result: RolloutResult }[]> {
  const apps = selectApps(project, targets.map((t) => t.app));
  const by = whoAmI();
  const deployId = randomUUID();
  return withDeployLock(project, `scale ${targets.map((t) => `${t.app}=${t.instances}`).join(" ")}`, {}, async (lock) => {
    const out = [];
    for (const app of apps) {
      const want = targets.find((t) => t.app === app.name)!.instances;
      const current = await activeSpec(project.name, app.name, lock.clients);
      if (!current) throw new UserError(`${app.name} is not deployed yet: nothing to scale`, { hint: `deploy it first (skiff deploy ${app.name}), or set instances: in skiff.yml` });
      const placement = await placeApp(project, app, lock.clients, { instances: want, current });
      const { withheld: _w, ...full } = current;
      if (current.withheld) throw new UserError(`${app.name}: no machine holds the full spec of release ${current.release} (with its secrets); deploy it again instead of scaling`);
      const draft: ReleaseSpec = { ...full, release: 0, instances: want, placement, createdBy: by, createdAt: new Date().toISOString() };
      const { release, previous } = await chooseRelease(lock.clients, project.name, draft);
      const spec = { ...draft, release };
      // A machine that now runs instances gets the full spec (secrets included) with this new release.
      await putRelease(lock.clients, spec);
      const result = await rollout({
        project: project.name, app: app.name, target: release, previous, clients: lock.clients, maxParallel: app.deploy.maxParallel,
        action: "scale", deployId, by, keepWarm: app.deploy.keepWarm, reporter: opts.reporter, interrupted: opts.interrupted ?? (() => false), checkLock: lock.check,
      });
      out.push({ app: app.name, from: current.instances, to: want, release, placement, result });
      if (!result.ok) break;
    }
    return out;
  });
}
