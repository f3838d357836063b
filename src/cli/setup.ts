// skiff setup [machine…]: prepare machines (Docker, HAProxy, the agent and its Node runtime). Idempotent.
import { skiffFor, type Ctx } from "./context.ts";
import { renderError } from "./render-error.ts";

export async function setupCommand(ctx: Ctx, names: string[], opts: { dryRun?: boolean; parallel?: number }): Promise<number> {
  const started = Date.now();
  const results = await skiffFor(ctx).setup({ machines: names, dryRun: opts.dryRun, parallel: opts.parallel });
  let failed = 0;
  for (const { cause, ...r } of results) {
    if (r.error || r.problems.length) failed++;
    if (ctx.json) {
      ctx.out(JSON.stringify(r));
      continue;
    }
    for (const n of r.notes) process.stderr.write(`${r.machine}: note: ${n}\n`);
    if (r.error) {
      process.stderr.write(`${r.machine}: setup failed\n`);
      renderError(cause, false);
    } else if (r.problems.length) {
      for (const p of r.problems) process.stderr.write(`${r.machine}: cannot set up: ${p}\n`);
    } else if (opts.dryRun) {
      ctx.out(r.plan.length ? `${r.machine}: would\n${r.plan.map((s) => `  - ${s}`).join("\n")}` : `${r.machine}: ready, nothing to do`);
    } else {
      ctx.out(r.done.length ? `${r.machine}: ready (${r.done.length} change${r.done.length === 1 ? "" : "s"})` : `${r.machine}: ready, no changes`);
    }
  }
  if (!ctx.json && !opts.dryRun) ctx.out(`setup: ${results.length - failed}/${results.length} machine(s) ready in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  return failed ? 1 : 0;
}
