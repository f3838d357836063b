// What every command handler gets: the loaded project and a reporter; skiffFor(ctx) gives the API over it.
import type { Project } from "../config/model.ts";
import { loadedFrom, loadProjectCached } from "../config/cached-load.ts";
import { projectCachePlace } from "../config/cache-place.ts";
import { readCachedForwards, writeCachedForwards } from "../config/project-cache.ts";
import { usedForwards } from "../transport/agent-forward.ts";
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

export async function makeCtx(g: GlobalOptions): Promise<Ctx> {
  const project = await loadProjectCached({ file: g.config, environment: g.env }, projectCachePlace());
  process.once("exit", keepForwards);
  return { project, json: Boolean(g.json), reporter: g.json ? jsonReporter() : plainReporter(), out: (l) => void process.stdout.write(l + "\n") };
}

/** The forwards this command used, for the next run of the same project to start while it loads (prewarm.ts);
 *  written only when they changed. */
function keepForwards(): void {
  if (!loadedFrom || !usedForwards.size) return;
  const before = readCachedForwards(loadedFrom);
  const now = [...new Set([...(before ?? []), ...[...usedForwards.values()].map((f) => f.machine)])].sort();
  if (JSON.stringify(before) !== JSON.stringify(now)) writeCachedForwards(loadedFrom, now);
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
