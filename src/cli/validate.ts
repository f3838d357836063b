import { validateEverywhere } from "../config/load.ts";
import { makeCtx, skiffFor, type GlobalOptions } from "./context.ts";

/** Checks the file and every environment overlay (not only the one given with -e): a broken overlay is found before a deploy to it. */
export async function validateCommand(g: GlobalOptions): Promise<void> {
  validateEverywhere({ file: g.config }); // first, so one run shows the base's and every overlay's problems together
  const ctx = await makeCtx(g);
  const summary = await skiffFor(ctx).validate();
  if (ctx.json) return ctx.out(JSON.stringify(summary));
  ctx.out(`${ctx.project.file}: ok — project ${summary.project}${summary.environment ? ` (environment ${summary.environment})` : ""}, ${summary.machines.length} machine(s), ${summary.apps.length} app(s)`);
}
