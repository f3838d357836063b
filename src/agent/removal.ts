// Removing an app from this machine: every instance, its HAProxy backend, its
// releases and the images or artifacts no other app uses (history stays).
import type { ReleaseSpec } from "../contracts/model.ts";
import { backendName } from "../proxy/model.ts";
import { runtimeOf, type Machine } from "./effects.ts";
import { fence } from "./fence.ts";
import { discard } from "./instances.ts";

export interface RemoveResult {
  removed: number;
  kept?: string;
}

export function removeApp(m: Machine, project: string, app: string, opts: { holder?: string; onlyIfActive?: number } = {}): Promise<RemoveResult> {
  return m.mutex.run(`${project}/${app}`, async () => {
    fence(m.store, project, opts.holder, opts.onlyIfActive !== undefined);
    const st = m.store.state(project, app);
    // A revert of an app's first release: only while that release is still the one serving here.
    if (opts.onlyIfActive !== undefined && st.active !== opts.onlyIfActive) return { removed: 0, kept: `nothing to undo: release ${st.active ?? "none"} serves here, not ${opts.onlyIfActive}` };
    const specs = m.store.releases(project, app).map((n) => m.store.release(project, app, n)).filter((s): s is ReleaseSpec => Boolean(s));
    const insts = [...st.instances, ...st.warm, ...st.pending, ...(st.retiring ?? [])];
    const stopS = specs.find((s) => s.release === st.active)?.stopTimeoutS ?? 10;
    const backend = backendName(project, app);
    for (const i of insts) await m.proxy.disable(backend, i.name).catch(() => {});
    await discard(m, insts, backend, stopS);
    await m.proxy.removeBackend(backend);
    // Its HTTPS certificates go with it (after the backend: no frontend routes to the hosts any more).
    await m.proxy.pruneTlsCerts(project, app, []).catch((e: Error) => m.log(`${app}: its certificates stay: ${e.message}`));
    m.store.removeApp(project, app);
    const stillUsed = new Set(m.store.apps().flatMap(({ project: p, app: a }) => m.store.releases(p, a).map((n) => m.store.release(p, a, n)?.imageId)));
    for (const s of specs) {
      await runtimeOf(m, s).dropRelease?.(project, app, s.release).catch(() => {});
      if (!stillUsed.has(s.imageId)) await runtimeOf(m, s).removeImage?.(s.imageId).catch(() => {});
    }
    m.log(`${app}: removed (${insts.length} instance(s), ${specs.length} release(s))`);
    return { removed: insts.length };
  });
}
