// skiff rollback [app…] [--to N] [--dry-run] [--yes]: an older release, whole, through the same safe sequence.
import { skiffFor, type Ctx } from "./context.ts";
import { phaseLine } from "./deploy.ts";
import { onInterrupt } from "./interrupt.ts";
import { printPlan } from "./plan.ts";
import { renderRollout } from "./render-rollout.ts";

export async function rollbackCommand(ctx: Ctx, apps: string[], opts: { to?: number; maxParallel?: number; skipUnreachable?: boolean; dryRun?: boolean; yes?: boolean }): Promise<number> {
  const started = Date.now();
  const interrupt = onInterrupt(ctx, !opts.dryRun);
  try {
    const r = await skiffFor(ctx).rollback({ apps, to: opts.to, maxParallel: opts.maxParallel, skipUnreachable: opts.skipUnreachable, dryRun: opts.dryRun, restartAccessories: opts.yes, signal: interrupt.signal });
    if (r.dryRun) return printPlan(ctx, r.plan), 0;
    let ok = true;
    for (const o of r.outcomes) {
      if (ctx.json) ctx.out(JSON.stringify({ app: o.app, to: o.to, from: o.from, ...o.result, rollback: { ms: r.ms, phases: r.phases } }));
      else renderRollout(o.app, o.to, o.result, ctx.out, (l) => void process.stderr.write(l + "\n"));
      ok &&= o.result.ok;
    }
    if (!ctx.json) ctx.out(`rollback ${ok ? "done" : "FAILED"} in ${((Date.now() - started) / 1000).toFixed(1)}s${r.phases ? ` (${phaseLine(r.phases)})` : ""}`);
    return ok ? 0 : 1;
  } finally {
    interrupt.dispose();
  }
}
