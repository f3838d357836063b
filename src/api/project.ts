// A project from a config file (skiff.yml or skiff.config.ts, found from a
// directory up like the CLI does) or from a config object written in code.
// An object goes through the same checks as a file; its `place` functions stay
// real functions, called in this process.
import { join, resolve } from "node:path";
import { checkData, findConfig, loadProject } from "../config/load.ts";
import type { Project } from "../config/model.ts";
import type { PlacementFunction } from "../config/placement.ts";
import { NoPositions } from "../config/positions.ts";
import { UserError } from "../errors.ts";
import type { SkiffConfig } from "./config.ts";

export interface ProjectSource {
  /** A path to skiff.yml / skiff.config.ts, or the config itself. Default: found from `dir` up. */
  config?: string | SkiffConfig;
  /** The environment overlay (`-e`). */
  environment?: string;
  /** Where the project lives: `.skiff/known_hosts`, build contexts and files are relative to it. Default: the working directory. */
  dir?: string;
}

/** The name diagnostics of a config object carry in place of a file. */
export const OBJECT_SOURCE = "config object";

export function openProject(src: ProjectSource): Project {
  const dir = resolve(src.dir ?? process.cwd());
  if (src.config === undefined) return loadProject({ file: findConfig(dir), environment: src.environment });
  if (typeof src.config === "string") return loadProject({ file: resolve(dir, src.config), environment: src.environment });
  return fromObject(src.config, dir, src.environment);
}

function fromObject(config: SkiffConfig, dir: string, environment?: string): Project {
  const placers: Record<string, PlacementFunction> = {};
  const apps: Record<string, unknown> = {};
  for (const [name, app] of Object.entries(config.apps ?? {})) {
    const { place, ...rest } = app;
    if (typeof place === "function") placers[name] = place;
    apps[name] = rest;
  }
  // Plain data, as a file would give: what JSON cannot hold is not config.
  const data = JSON.parse(JSON.stringify({ ...config, ...(config.apps ? { apps } : {}) })) as object;
  // Named as if it were a file in `dir`, so relative paths (build contexts, files) resolve there.
  const { project, diagnostics } = checkData(data, new NoPositions(), join(dir, OBJECT_SOURCE), environment);
  if (!project) {
    const named = diagnostics.map((d) => ({ ...d, file: OBJECT_SOURCE }));
    throw new UserError(`${OBJECT_SOURCE}: ${named.length} problem${named.length === 1 ? "" : "s"}`, { exitCode: 2, diagnostics: named });
  }
  for (const [app, place] of Object.entries(placers)) if (Object.hasOwn(project.apps, app)) project.apps[app]!.place = place;
  return project;
}
