// skiff metrics: each machine's Prometheus exposition (the project's series and
// the machine's), or with --prometheus-config a scrape config for the project.
import { skiffFor, type Ctx } from "./context.ts";

export async function metricsCommand(ctx: Ctx, o: { machine?: string; prometheusConfig?: boolean }): Promise<number> {
  const skiff = skiffFor(ctx);
  if (o.prometheusConfig) {
    const text = await skiff.metrics.prometheusConfig();
    ctx.out(ctx.json ? JSON.stringify({ config: text }) : text.trimEnd());
    return 0;
  }
  const answers = await skiff.metrics.text({ machine: o.machine });
  if (ctx.json) {
    ctx.out(JSON.stringify(answers));
    return answers.some((a) => "problem" in a) ? 1 : 0;
  }
  // One machine: its text as is (what a scraper gets). Several: each machine's block after a comment naming it
  // (the series carry a machine label, so the concatenation is still one valid exposition only per block).
  for (const a of answers) {
    if ("problem" in a) {
      process.stderr.write(`skiff: ${a.machine}: ${a.problem}\n`);
      continue;
    }
    if (answers.length > 1) ctx.out(`# machine ${a.machine}`);
    ctx.out(a.text.trimEnd());
  }
  return answers.some((a) => "problem" in a) ? 1 : 0;
}
