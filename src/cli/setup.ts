// skiff setup [machine…]: prepare machines (Docker, HAProxy, Node, the agent). Idempotent.
import { UserError } from "../errors.ts";
import { needsDocker, setupMachines } from "../exec/setup.ts";
import { describeStep } from "../plan/setup.ts";
import { loadAgentBundle } from "./agent-bundle.ts";
import { selectMachines, transportsFor, type Ctx } from "./context.ts";
import { renderError } from "./render-error.ts";

export async function setupCommand(ctx: Ctx, names: string[], opts: { dryRun?: boolean; parallel?: number }): Promise<number> {
  const machines = selectMachines(ctx.project, names);
  const want = { agent: loadAgentBundle(), needsDocker: needsDocker(ctx.project.apps) };
  const started = Date.now();
  const results = await setupMachines(transportsFor(ctx.project, machines), want, { dryRun: opts.dryRun, reporter: ctx.reporter, parallel: opts.parallel });

  let failed = 0;
  for (const r of results) {
    if (r.error || r.plan?.problems.length) failed++;
    if (ctx.json) {
      const error = r.error instanceof UserError ? { message: r.error.message, hint: r.error.hint } : r.error ? { message: String(r.error) } : undefined;
      ctx.out(JSON.stringify({ machine: r.machine, dryRun: Boolean(opts.dryRun), plan: r.plan?.steps.map(describeStep) ?? [], problems: r.plan?.problems ?? [], done: r.done, changed: r.done.length > 0, error }));
      continue;
    }
    if (r.error) {
      process.stderr.write(`${r.machine}: setup failed\n`);
      renderError(r.error, false);
    } else if (r.plan!.problems.length) {
      for (const p of r.plan!.problems) process.stderr.write(`${r.machine}: cannot set up: ${p}\n`);
    } else if (opts.dryRun) {
      ctx.out(r.plan!.steps.length ? `${r.machine}: would\n${r.plan!.steps.map((s) => `  - ${describeStep(s)}`).join("\n")}` : `${r.machine}: ready, nothing to do`);
    } else {
      ctx.out(r.done.length ? `${r.machine}: ready (${r.done.length} change${r.done.length === 1 ? "" : "s"})` : `${r.machine}: ready, no changes`);
    }
  }
  if (!ctx.json && !opts.dryRun) ctx.out(`setup: ${results.length - failed}/${results.length} machine(s) ready in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  return failed ? 1 : 0;
}
