// skiff deploy [app…]: build, ship, and roll out with zero downtime; --dry-run prints the plan (as `skiff plan`).
import type { PlanEffects } from "../exec/plan.ts";
import { skiffFor, type Ctx } from "./context.ts";
import { onInterrupt } from "./interrupt.ts";
import { printPlan } from "./plan.ts";
import { renderRollout } from "./render-rollout.ts";

/** "lock 0.1s · plan 0.3s · …": where the time went, steps that took under 50 ms left out. */
export function phaseLine(phases: object): string {
  return (Object.entries(phases) as [string, number][]).filter(([, ms]) => ms >= 50).map(([k, ms]) => `${k} ${(ms / 1000).toFixed(1)}s`).join(" · ") || "each step under 0.1s";
}

export async function deployCommand(ctx: Ctx, apps: string[], opts: { skipUnreachable?: boolean; wait?: boolean; dryRun?: boolean; yes?: boolean }, effects?: PlanEffects): Promise<number> {
  const started = Date.now();
  const interrupt = onInterrupt(ctx, !opts.dryRun);
  try {
    const r = await skiffFor(ctx, effects).deploy({ apps, skipUnreachable: opts.skipUnreachable, waitForLock: opts.wait, dryRun: opts.dryRun, restartAccessories: opts.yes, signal: interrupt.signal });
    if (r.dryRun) return printPlan(ctx, r.plan), 0;
    const err = (l: string) => void process.stderr.write(l + "\n");
    let ok = true;
    for (const o of r.outcomes) {
      if (ctx.json) ctx.out(JSON.stringify({ app: o.app, release: o.release, image: o.image, ...o.result, phases: o.phases, deploy: { ms: r.ms, phases: r.phases } }));
      else if ("switched" in o.result) renderRollout(o.app, o.release, o.result, ctx.out, err);
      ok &&= o.result.ok;
    }
    if (!ctx.json) ctx.out(`deploy ${ok ? "done" : "FAILED"} in ${((Date.now() - started) / 1000).toFixed(1)}s${r.phases ? ` (${phaseLine(r.phases)})` : ""}`);
    return ok ? 0 : 1;
  } finally {
    interrupt.dispose();
  }
}
