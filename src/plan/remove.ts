// Pure: what `skiff remove` takes away from each machine (instances, releases
// and their images or artifacts, the HAProxy backend). History stays.
import type { Project } from "../config/model.ts";
import type { RemovePlan } from "./model.ts";
import { namesRemoved } from "./names.ts";
import { activeSpec, type Observed } from "./observed.ts";
import { selectApps } from "./release-spec.ts";

export function planRemove(project: Project, o: Observed, opts: { apps: string[] }): RemovePlan {
  const apps = selectApps(project, opts.apps).map((a) => {
    const machines = o.machines.map((m) => {
      const here = m.apps[a.name] ?? { releases: [], active: null };
      const running = m.capacity?.apps.find((x) => x.project === project.name && x.app === a.name)?.instances ?? 0;
      return { machine: m.machine, active: here.active, instances: running, releases: here.releases };
    });
    // Its names go with its backend, from every machine that has one (any that activated a release).
    const served = machines.some((m) => m.active !== null);
    return { app: a.name, machines, ...(served ? { names: namesRemoved(activeSpec(o, a.name), project.name, a) } : {}) };
  });
  return { action: "remove", project: project.name, apps, skipped: o.unreachable };
}
