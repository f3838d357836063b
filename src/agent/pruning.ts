// Housekeeping after a good switch: keep the newest `keep_releases` releases
// (and any still in use), drop the others with their files, working directories
// and images no kept release uses.
import { rmSync } from "node:fs";
import type { AppState } from "../contracts/model.ts";
import { runtimeOf, type Machine } from "./effects.ts";
import { filesDir } from "./files.ts";

export async function prune(m: Machine, project: string, app: string, st: AppState, keep: number): Promise<void> {
  const inUse = [st.active, ...st.warm.map((w) => w.release)].filter((n): n is number => n !== null);
  const dropped = m.store.pruneReleases(project, app, keep, inUse);
  const keptImages = new Set(m.store.releases(project, app).map((n) => m.store.release(project, app, n)?.imageId));
  for (const s of dropped) {
    rmSync(filesDir(m.store.dir, project, app, s.release), { recursive: true, force: true });
    await runtimeOf(m, s).dropRelease?.(project, app, s.release).catch(() => {});
    if (!keptImages.has(s.imageId)) await runtimeOf(m, s).removeImage?.(s.imageId).catch(() => {});
  }
}
