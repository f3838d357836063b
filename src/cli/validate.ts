import type { Ctx } from "./context.ts";

export function validateCommand(ctx: Ctx): void {
  const p = ctx.project;
  const summary = { ok: true, project: p.name, environment: p.environment ?? null, machines: Object.keys(p.machines), apps: Object.keys(p.apps) };
  if (ctx.json) return ctx.out(JSON.stringify(summary));
  ctx.out(`${p.file}: ok — project ${p.name}${p.environment ? ` (environment ${p.environment})` : ""}, ${summary.machines.length} machine(s), ${summary.apps.length} app(s)`);
}
