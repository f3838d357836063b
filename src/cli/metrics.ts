// skiff metrics: each machine's Prometheus exposition (the project's series and
// the machine's), or with --prometheus-config a scrape config for the project.
import { mergeExpositions } from "../metrics/exposition.ts";
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
  // One exposition for all machines (their series differ by the machine label): what promtool and a scraper accept.
  for (const a of answers) if ("problem" in a) process.stderr.write(`skiff: ${a.machine}: ${a.problem}\n`);
  const text = mergeExpositions(answers.flatMap((a) => ("text" in a ? [a.text] : [])));
  if (text) ctx.out(text.trimEnd());
  return answers.some((a) => "problem" in a) ? 1 : 0;
}
