// skiff scale app=N [app=N…] [--dry-run]: a new release with that many instances, placed over the app's machines.
import { UserError } from "../errors.ts";
import { wholeNumber } from "./numbers.ts";
import { skiffFor, type Ctx } from "./context.ts";
import { onInterrupt } from "./interrupt.ts";
import { printPlan } from "./plan.ts";
import { renderRollout } from "./render-rollout.ts";

export async function scaleCommand(ctx: Ctx, args: string[], opts: { dryRun?: boolean } = {}): Promise<number> {
  if (!args.length) throw new UserError("say what to scale", { hint: "skiff scale web=4", exitCode: 2 });
  const targets = args.map((a) => {
    const m = /^([a-z][a-z0-9-]*)=(.*)$/.exec(a);
    if (!m) throw new UserError(`"${a}" is not APP=N`, { hint: "skiff scale web=4", exitCode: 2 });
    // The same bounds as instances: in skiff.yml.
    return { app: m[1]!, instances: wholeNumber(m[2]!, `the instance count in "${a}"`, 0, 1000, "skiff scale web=4") };
  });
  const interrupt = onInterrupt(ctx, !opts.dryRun);
  try {
    const res = await skiffFor(ctx).scale(Object.fromEntries(targets.map((t) => [t.app, t.instances])), { dryRun: opts.dryRun, signal: interrupt.signal });
    if (res.dryRun) return printPlan(ctx, res.plan), 0;
    let ok = true;
    for (const r of res.outcomes) {
      if (ctx.json) ctx.out(JSON.stringify({ app: r.app, from: r.from, to: r.to, release: r.release, placement: r.placement, ...r.result }));
      else {
        renderRollout(r.app, r.release, r.result, ctx.out, (l) => void process.stderr.write(l + "\n"));
        ctx.out(`${r.app}: ${r.from} → ${r.to} instances (${Object.entries(r.placement).map(([m, n]) => `${m}: ${n}`).join(", ")}), release ${r.release}`);
        if (r.result.ok && ctx.project.apps[r.app]?.instances !== r.to) ctx.out(`  note: skiff.yml says instances: ${ctx.project.apps[r.app]?.instances ?? "one per machine"}; the next deploy goes back to that unless you change it`);
      }
      ok &&= r.result.ok;
    }
    return ok ? 0 : 1;
  } finally {
    interrupt.dispose();
  }
}
