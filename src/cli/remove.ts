// skiff remove APP… --yes [--dry-run]: stop an app everywhere and forget it. History stays.
import { UserError } from "../errors.ts";
import { selectApps } from "../plan/release-spec.ts";
import { skiffFor, type Ctx } from "./context.ts";
import { printPlan } from "./plan.ts";

export async function removeCommand(ctx: Ctx, names: string[], opts: { yes?: boolean; dryRun?: boolean }): Promise<number> {
  if (!names.length) throw new UserError("name the apps to remove", { hint: "skiff remove web --yes" });
  const apps = selectApps(ctx.project, names);
  if (!opts.yes && !opts.dryRun) throw new UserError(`this stops ${apps.map((a) => a.name).join(", ")} on every machine and deletes its releases`, { hint: `run again with --yes: skiff remove ${names.join(" ")} --yes` });
  const r = await skiffFor(ctx).remove(names, { dryRun: opts.dryRun });
  if (r.dryRun) return printPlan(ctx, r.plan), 0;
  for (const a of r.removed) {
    if (ctx.json) ctx.out(JSON.stringify({ app: a.app, machines: a.machines }));
    else ctx.out(`${a.app}: removed from ${a.machines.map((m) => `${m.machine} (${m.removed} instance${m.removed === 1 ? "" : "s"})`).join(", ")}`);
  }
  return 0;
}
