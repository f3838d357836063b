// Pure: what `skiff remove` takes away from each machine (instances, releases
// and their images or artifacts, the HAProxy backend). History stays.
import type { Project } from "../config/model.ts";
import type { RemovePlan } from "./model.ts";
import type { Observed } from "./observed.ts";
import { selectApps } from "./release-spec.ts";

export function planRemove(project: Project, o: Observed, opts: { apps: string[] }): RemovePlan {
  const apps = selectApps(project, opts.apps).map((a) => ({
    app: a.name,
    machines: o.machines.map((m) => {
      const here = m.apps[a.name] ?? { releases: [], active: null };
      const running = m.capacity?.apps.find((x) => x.project === project.name && x.app === a.name)?.instances ?? 0;
      return { machine: m.machine, active: here.active, instances: running, releases: here.releases };
    }),
  }));
  return { action: "remove", project: project.name, apps, skipped: o.unreachable };
}
