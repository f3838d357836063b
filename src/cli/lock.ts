// skiff lock status | release: see or break the deploy lock.
import type { LockInfo } from "../agent/model.ts";
import { askAll } from "../exec/agent-client.ts";
import { describeHolder } from "../exec/lock.ts";
import type { Ctx } from "./context.ts";

export async function lockCommand(ctx: Ctx, action: "status" | "release"): Promise<number> {
  const res = await askAll(ctx.project, async (c) => {
    const info = await c.call<LockInfo | null>("lock.info");
    if (action === "release" && info) await c.call("lock.release", { force: true });
    return info;
  });
  let failed = 0;
  res.forEach((r) => {
    const m = r.machine;
    if (!r.ok) {
      failed++;
      return void process.stderr.write(`${m}: unreachable: ${(r.error as Error).message.split("\n")[0]}\n`);
    }
    if (ctx.json) return ctx.out(JSON.stringify({ machine: m, lock: r.value, released: action === "release" && r.value !== null }));
    if (!r.value) ctx.out(`${m}: not locked`);
    else ctx.out(`${m}: ${action === "release" ? "released the lock held by" : "locked by"} ${describeHolder(r.value)}`);
  });
  return failed ? 1 : 0;
}
