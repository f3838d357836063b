// Where the CLI keeps what it checked of a project between runs (project-cache.ts), and which skiff build wrote it.
import { homedir } from "node:os";
import { join } from "node:path";
import { settingsFromEnv } from "../settings.ts";

declare const __SKIFF_BUILD__: string;

/** Keyed by the bundled CLI's version and source hash (scripts/build.mjs), in the user's cache folder. Unbundled
 *  (tsx, tests) there is no build: undefined, and every run checks skiff.yml afresh. */
export function projectCachePlace(): { build: string; dir: string } | undefined {
  if (typeof __SKIFF_BUILD__ !== "string") return undefined;
  return { build: __SKIFF_BUILD__, dir: join(settingsFromEnv(process.env).cacheHome || join(homedir(), ".cache"), "skiff", "projects") };
}
