// skiff plan [app…] [-e ENV]: what `skiff deploy` would do, per app and machine —
// releases, instances to start and stop, config keys old → new (secrets masked,
// file contents hidden), what ships, the hook, the batches. Reads only; the
// plan is the one `skiff deploy --dry-run` prints and `skiff deploy` carries out.
// Exit 0: nothing to do; 2: changes; 1: a machine could not be asked (or the placement does not fit).
import type { PlanEffects } from "../exec/plan.ts";
import { changeCount, type Plan } from "../plan/model.ts";
import { renderPlan } from "../plan/render.ts";
import { skiffFor, type Ctx } from "./context.ts";

/** Every plan is printed here: the plan object as JSON with --json, else the one renderer's lines. */
export function printPlan(ctx: Pick<Ctx, "json" | "out">, p: Plan): void {
  if (ctx.json) ctx.out(JSON.stringify(p));
  else for (const l of renderPlan(p)) ctx.out(l);
}

export async function planCommand(ctx: Ctx, names: string[], opts: { skipUnreachable?: boolean } = {}, effects?: PlanEffects): Promise<number> {
  const p = await skiffFor(ctx, effects).plan({ apps: names, skipUnreachable: opts.skipUnreachable });
  printPlan(ctx, p);
  return changeCount(p) ? 2 : 0;
}
