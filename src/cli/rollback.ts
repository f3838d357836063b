// skiff rollback [app…] [--to N]: an older release, whole, through the same safe sequence.
import { rollback } from "../exec/rollback.ts";
import type { Ctx } from "./context.ts";
import { onInterrupt } from "./interrupt.ts";
import { renderRollout } from "./render-rollout.ts";

export async function rollbackCommand(ctx: Ctx, apps: string[], opts: { to?: number; maxParallel?: number; skipUnreachable?: boolean }): Promise<number> {
  const started = Date.now();
  const interrupt = onInterrupt(ctx);
  try {
    const results = await rollback(ctx.project, { apps, to: opts.to, maxParallel: opts.maxParallel, skipUnreachable: opts.skipUnreachable, reporter: ctx.reporter, interrupted: interrupt.fired });
    let ok = true;
    for (const r of results) {
      if (ctx.json) ctx.out(JSON.stringify({ app: r.app, to: r.to, from: r.from, ...r.result }));
      else renderRollout(r.app, r.to, r.result, ctx.out, (l) => void process.stderr.write(l + "\n"));
      ok &&= r.result.ok;
    }
    if (!ctx.json) ctx.out(`rollback ${ok ? "done" : "FAILED"} in ${((Date.now() - started) / 1000).toFixed(1)}s`);
    return ok ? 0 : 1;
  } finally {
    interrupt.dispose();
  }
}
