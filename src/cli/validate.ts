import { validateEverywhere } from "../config/load.ts";
import { makeCtx, type GlobalOptions } from "./context.ts";

/** Checks the file and every environment overlay (not only the one given with -e): a broken overlay is found before a deploy to it. */
export function validateCommand(g: GlobalOptions): void {
  validateEverywhere({ file: g.config }); // first, so one run shows the base's and every overlay's problems together
  const ctx = makeCtx(g);
  const p = ctx.project;
  const summary = { ok: true, project: p.name, environment: p.environment ?? null, machines: Object.keys(p.machines), apps: Object.keys(p.apps) };
  if (ctx.json) return ctx.out(JSON.stringify(summary));
  ctx.out(`${p.file}: ok — project ${p.name}${p.environment ? ` (environment ${p.environment})` : ""}, ${summary.machines.length} machine(s), ${summary.apps.length} app(s)`);
}
