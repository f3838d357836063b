// skiff remove APP…: stop an app everywhere and forget it (instances, HAProxy
// backend, releases, images or artifacts). History stays. Under the deploy lock.
import { UserError } from "../errors.ts";
import { selectApps } from "../exec/deploy.ts";
import { withDeployLock } from "../exec/lock.ts";
import type { Ctx } from "./context.ts";

export async function removeCommand(ctx: Ctx, names: string[], opts: { yes?: boolean }): Promise<number> {
  if (!names.length) throw new UserError("name the apps to remove", { hint: "skiff remove web --yes" });
  const apps = selectApps(ctx.project, names);
  if (!opts.yes) throw new UserError(`this stops ${apps.map((a) => a.name).join(", ")} on every machine and deletes its releases`, { hint: `run again with --yes: skiff remove ${names.join(" ")} --yes` });
  return withDeployLock(ctx.project, `remove ${names.join(" ")}`, {}, async (lock) => {
    for (const app of apps) {
      const removed = await Promise.all(lock.clients.map(async (c) => ({ machine: c.machine, ...(await c.call<{ removed: number }>("app.remove", { project: ctx.project.name, app: app.name })) })));
      if (ctx.json) ctx.out(JSON.stringify({ app: app.name, machines: removed }));
      else ctx.out(`${app.name}: removed from ${removed.map((r) => `${r.machine} (${r.removed} instance${r.removed === 1 ? "" : "s"})`).join(", ")}`);
    }
    return 0;
  });
}
