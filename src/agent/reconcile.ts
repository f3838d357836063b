// After an agent (re)start: unfinished activations are undone, stopped
// instances no state knows are removed, and HAProxy matches the saved state.
import { backendName } from "../proxy/model.ts";
import type { Machine } from "./effects.ts";
import { discard } from "./instances.ts";

export async function reconcile(m: Machine): Promise<void> {
  for (const { project, app } of m.store.apps()) {
    const st = m.store.state(project, app);
    const gone = [...st.pending, ...(st.retiring ?? [])];
    if (gone.length) {
      m.log(`${app}: removing ${st.pending.length} instance(s) of an unfinished activation, ${gone.length - st.pending.length} retiring`);
      const spec = st.active !== null ? m.store.release(project, app, st.active) : undefined;
      await discard(m, gone, backendName(project, app), spec?.stopTimeoutS ?? 10);
      st.pending = [];
      st.retiring = [];
      m.store.saveState(st);
    }
  }
  await removeOrphans(m);
  if (m.store.apps().some(({ project, app }) => m.store.state(project, app).active !== null)) {
    await m.proxy.ensureRunning();
    await m.proxy.sync();
  }
}

/** Stopped skiff instances that no state knows (e.g. left by a wiped state directory) are removed; running ones are only reported. */
async function removeOrphans(m: Machine): Promise<void> {
  const known = new Set<string>();
  for (const { project, app } of m.store.apps()) {
    const st = m.store.state(project, app);
    for (const i of [...st.instances, ...st.warm, ...st.pending, ...(st.retiring ?? [])]) known.add(i.name);
  }
  for (const runtime of Object.values(m.runtimes)) {
    for (const name of await runtime.list({ "skiff.managed": "1" }).catch(() => [] as string[])) {
      if (known.has(name)) continue;
      const s = await runtime.status(name);
      if (s.running) m.log(`${name} runs but no release state knows it; left alone`);
      else await runtime.remove(name).catch(() => {});
    }
  }
}
