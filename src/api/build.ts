// Build the images of apps that have a build section (tag: git commit, skipped
// when the tag exists), as `skiff build` does; deploy builds them itself.
import { buildApps, type AppImage } from "../build/image.ts";
import type { Project } from "../config/model.ts";
import type { Reporter } from "../contracts/events.ts";
import { selectApps } from "../plan/release-spec.ts";

/** One app's image after a build: built now, already there, or as written in `image:` (for a process app, its artifact directory). */
export type BuiltImage = AppImage;

export interface BuildOptions {
  /** Apps to build (default: all). */
  apps?: string[];
}

export function buildProject(project: Project, opts: BuildOptions, reporter: Reporter): Promise<BuiltImage[]> {
  return buildApps(project, selectApps(project, opts.apps ?? []), reporter);
}
