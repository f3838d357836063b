// What every command handler gets: the loaded project and a reporter; skiffFor(ctx) gives the API over it.
import { homedir } from "node:os";
import { join } from "node:path";
import type { Project } from "../config/model.ts";
import { loadProjectCached } from "../config/cached-load.ts";
import { jsonReporter, plainReporter, type Reporter } from "../contracts/events.ts";
import { Skiff } from "../api/skiff.ts";
import type { PlanEffects } from "../exec/plan.ts";
import { settingsFromEnv } from "../settings.ts";

export interface GlobalOptions {
  config?: string;
  env?: string;
  json?: boolean;
}

export interface Ctx {
  project: Project;
  json: boolean;
  reporter: Reporter;
  out: (line: string) => void;
}

declare const __SKIFF_BUILD__: string;

/** The checked-project cache: keyed by the bundled CLI's version and source hash (scripts/build.mjs), kept in the
 *  user's cache folder. Unbundled (tsx, tests) there is no build, and every run checks skiff.yml afresh. */
function projectCache(): { build: string; dir: string } | undefined {
  if (typeof __SKIFF_BUILD__ !== "string") return undefined;
  return { build: __SKIFF_BUILD__, dir: join(settingsFromEnv(process.env).cacheHome || join(homedir(), ".cache"), "skiff", "projects") };
}

export async function makeCtx(g: GlobalOptions): Promise<Ctx> {
  const project = await loadProjectCached({ file: g.config, environment: g.env }, projectCache());
  return { project, json: Boolean(g.json), reporter: g.json ? jsonReporter() : plainReporter(), out: (l) => void process.stdout.write(l + "\n") };
}

const apis = new WeakMap<Ctx, Skiff>();

/** The API over the command's project: the commands call it and render what it returns. The CLI's renderer is
 *  one subscriber of its events; the host settings come from the environment, read here for the command. */
export function skiffFor(ctx: Ctx, planEffects?: PlanEffects): Skiff {
  const make = () => new Skiff(ctx.project, { settings: settingsFromEnv(process.env), onEvent: (e) => ctx.reporter.emit(e), planEffects });
  // Tests inject how plans observe the machines: such a Skiff is their own, not the command's shared one.
  if (planEffects) return make();
  let s = apis.get(ctx);
  if (!s) apis.set(ctx, (s = make()));
  return s;
}
