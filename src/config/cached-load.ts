// loadProject with the checked-project cache (project-cache.ts) in front: on a hit nothing imports yaml or the
// schema; on a miss (or for skiff.config.ts, whose imports and placement functions are code) the full load runs.
import { resolve } from "node:path";
import { findConfig, readConfigText } from "./find.ts";
import type { Project } from "./model.ts";
import { readCachedProject, writeCachedProject, type CacheInput } from "./project-cache.ts";

/** The input of the last cached load in this process (the CLI's: its forwards are kept under the same key). */
export let loadedFrom: CacheInput | undefined;

/** `cache.build`: the running skiff's version and source hash; `cache.dir`: the user's folder of cache files.
 *  No `cache` (an unbundled run) turns the cache off. */
export async function loadProjectCached(opts: { file?: string; environment?: string }, cache: { build: string; dir: string } | undefined): Promise<Project> {
  const file = opts.file ? resolve(opts.file) : findConfig();
  if (cache === undefined || file.endsWith(".ts")) return (await import("./load.ts")).loadProject({ file, environment: opts.environment });
  const input = { text: readConfigText(file), file, environment: opts.environment, ...cache };
  loadedFrom = input;
  const cached = readCachedProject(input);
  if (cached) return cached;
  const project = (await import("./load.ts")).projectFromText(input.text, file, opts.environment);
  writeCachedProject(input, project);
  return project;
}
