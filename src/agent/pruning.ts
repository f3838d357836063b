// Housekeeping after a good switch: keep the newest `keep_releases` releases
// (and any still in use), drop the others with their files and working
// directories, and an image or artifact only when no kept release of any app on
// this machine uses it (releases share one unpacked artifact; two apps may share
// one image).
import { rmSync } from "node:fs";
import type { AppState } from "../contracts/model.ts";
import { runtimeOf, type Machine } from "./effects.ts";
import { filesDir } from "./files.ts";

export async function prune(m: Machine, project: string, app: string, st: AppState, keep: number): Promise<void> {
  // Retiring instances are still stopping (see activation's retire): their release's files and image stay till they are gone.
  const inUse = [st.active, ...st.warm.map((w) => w.release), ...(st.retiring ?? []).map((r) => r.release)].filter((n): n is number => n !== null);
  const dropped = m.store.pruneReleases(project, app, keep, inUse);
  if (!dropped.length) return;
  const keptImages = new Set(m.store.apps().flatMap(({ project: p, app: a }) => m.store.releases(p, a).map((n) => m.store.release(p, a, n)?.imageId)));
  for (const s of dropped) {
    rmSync(filesDir(m.store.dir, project, app, s.release), { recursive: true, force: true });
    await runtimeOf(m, s).dropRelease?.(project, app, s.release).catch(() => {});
    if (!keptImages.has(s.imageId)) await runtimeOf(m, s).removeImage?.(s.imageId).catch(() => {});
  }
}
