// skiff restart [app…] [--machine m] [--dry-run]: new instances of the active release, with a deploy's safety.
import { skiffFor, type Ctx } from "./context.ts";
import { onInterrupt } from "./interrupt.ts";
import { renderRollout } from "./render-rollout.ts";

export async function restartCommand(ctx: Ctx, apps: string[], opts: { machine?: string; dryRun?: boolean }): Promise<number> {
  const started = Date.now();
  const interrupt = onInterrupt(ctx, !opts.dryRun);
  try {
    const r = await skiffFor(ctx).restart({ apps, machine: opts.machine, dryRun: opts.dryRun, signal: interrupt.signal });
    if (r.dryRun) {
      if (ctx.json) ctx.out(JSON.stringify(r.plan));
      else for (const a of r.plan.apps) ctx.out(`${a.app}: restart release ${a.release} on ${a.machines.map((m) => `${m.machine} (${m.instances})`).join(", ")}; waves: ${a.batches.map((b) => b.join(" ")).join(" → ")}`);
      return 0;
    }
    for (const o of r.outcomes) {
      if (ctx.json) ctx.out(JSON.stringify({ app: o.app, release: o.release, ...o.result }));
      else renderRollout(o.app, o.release, o.result, ctx.out, (l) => void process.stderr.write(l + "\n"));
    }
    if (!ctx.json) ctx.out(`restart ${r.ok ? "done" : "FAILED"} in ${((Date.now() - started) / 1000).toFixed(1)}s`);
    return r.ok ? 0 : 1;
  } finally {
    interrupt.dispose();
  }
}
