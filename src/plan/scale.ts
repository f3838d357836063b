// Pure: scaling is the active release with a new instance count and the
// placement that gives, stored as a release of its own (or an identical one
// reused). Nothing is built: the image and config stay as they are.
import type { ReleaseSpec } from "../contracts/model.ts";
import type { Project } from "../config/model.ts";
import { UserError } from "../errors.ts";
import { machineChanges } from "./deploy.ts";
import { rolloutWaves, type AppScalePlan, type ScalePlan } from "./model.ts";
import { activeSpec, type Observed } from "./observed.ts";
import { placeApp, withReserved } from "./placement.ts";
import { chooseRelease, selectApps } from "./release-spec.ts";

export interface ScaleTarget {
  app: string;
  instances: number;
}

/** The scaled release (number 0 until chosen), from the full active spec; a UserError when there is none. */
export function scaledSpec(project: Project, o: Observed, t: ScaleTarget, meta: { by: string; createdAt: string }): { current: ReleaseSpec; spec: ReleaseSpec } {
  const app = project.apps[t.app]!;
  const current = activeSpec(o, t.app);
  if (!current) throw new UserError(`${t.app} is not deployed yet: nothing to scale`, { hint: `deploy it first (skiff deploy ${t.app}), or set instances: in skiff.yml` });
  const placement = placeApp(project, app, o, { instances: t.instances, current });
  if (current.withheld) throw new UserError(`${t.app}: no machine holds the full spec of release ${current.release} (with its secrets); deploy it again instead of scaling`);
  const { withheld: _w, ...full } = current;
  return { current, spec: { ...full, release: 0, instances: t.instances, placement, createdBy: meta.by, createdAt: meta.createdAt } };
}

export function planScale(project: Project, o: Observed, opts: { targets: ScaleTarget[]; by: string; createdAt: string }): ScalePlan {
  const apps: AppScalePlan[] = [];
  let seen = o;
  for (const a of selectApps(project, opts.targets.map((t) => t.app))) {
    const t = opts.targets.find((x) => x.app === a.name)!;
    const { current, spec } = scaledSpec(project, seen, t, opts);
    const { release, existing } = chooseRelease(o, spec);
    apps.push({ app: a.name, from: current.instances, to: t.instances, release, reused: existing, placement: spec.placement!, machines: machineChanges(o, a.name, spec), batches: rolloutWaves(o.machines.map((m) => m.machine), a.deploy.maxParallel, a.deploy.canary, (m) => (spec.placement![m] ?? 0) > 0) });
    // The next app is placed around this one's new instances.
    seen = withReserved(project, seen, a.name, spec.limits, spec.placement!);
  }
  return { action: "scale", project: project.name, apps, skipped: o.unreachable };
}
