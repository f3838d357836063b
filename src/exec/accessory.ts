// skiff accessory stop|start NAME: an accessory held stopped (out of HAProxy, no restarts, also across agent
// restarts) or started again, under the deploy lock like every change of what runs. Each machine answers for
// itself: the one it runs on changes, the others have nothing of it active.
import type { Project } from "../config/model.ts";
import type { Reporter } from "../contracts/events.ts";
import { UserError } from "../errors.ts";
import { selectApps } from "../plan/release-spec.ts";
import { whoAmI, withDeployLock } from "./lock.ts";

export interface HoldOutcome {
  machine: string;
  changed: boolean;
  instances: number;
  reason?: string;
}

export async function holdAccessory(project: Project, name: string, held: boolean, reporter: Reporter): Promise<HoldOutcome[]> {
  const [a] = selectApps(project, [name]);
  if (!a!.accessory) throw new UserError(`${name} is an app, not an accessory: apps are stopped with \`skiff scale ${name}=0\` or removed with \`skiff remove\``, { hint: "accessories are listed under accessories: in skiff.yml" });
  const by = whoAmI();
  return withDeployLock(project, `accessory ${held ? "stop" : "start"} ${name}`, { skipUnreachable: true }, async (lock) => {
    const down = lock.unreachable.find((u) => u.machine === a!.accessory!.machine);
    if (down) throw new UserError(`${name} runs on ${down.machine}, which does not answer; nothing was changed`, { hint: "`skiff machines check` says why" });
    const out = await Promise.all(
      lock.clients.map(async (c) => {
        const r = await c.call("app.hold", { project: project.name, app: name, machine: c.machine, held, holder: lock.holder, by });
        if (r.changed) reporter.emit({ type: "step", machine: c.machine, step: `${name}: ${held ? "stopped" : "started"}`, status: r.reason ? "failed" : "ok" });
        return { machine: c.machine, ...r };
      }),
    );
    return out;
  });
}
