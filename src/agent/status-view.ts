// What `skiff status` shows for this machine: each app's active release,
// declared limits and placement, and every serving and warm instance as the
// runtime, the supervisor's health record and HAProxy see it.
import type { InstanceRecord } from "../contracts/model.ts";
import type { AppView, InstanceView } from "../contracts/rpc.ts";
import { backendName } from "../proxy/model.ts";
import { runtimeOf, type Machine } from "./effects.ts";

export type { AppView, InstanceView };

export async function statusView(m: Machine): Promise<AppView[]> {
  const out: AppView[] = [];
  for (const { project, app } of m.store.apps()) {
    const st = m.store.state(project, app);
    const describe = async (i: InstanceRecord): Promise<InstanceView> => {
      const s = await runtimeOf(m, i).status(i.name);
      const h = m.health.get(i.name);
      return { ...i, running: s.running, startedAt: s.startedAt ?? i.startedAt, healthy: Boolean(s.running && h?.healthy), health: h?.detail ?? "unknown", note: s.note, slotState: m.proxy.slotOf(backendName(project, app), i.name)?.state ?? "none" };
    };
    const spec = st.active !== null ? m.store.release(project, app, st.active) : undefined;
    out.push({
      project,
      app,
      active: st.active,
      limits: spec?.limits,
      placement: spec?.placement,
      releases: m.store.releases(project, app),
      instances: await Promise.all(st.instances.map(describe)),
      warm: await Promise.all(st.warm.map(describe)),
      ...(st.held ? { held: st.held } : {}),
    });
  }
  return out;
}
