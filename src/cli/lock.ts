// skiff lock status | release: see or break the deploy lock.
import type { LockInfo } from "../agent/model.ts";
import { agentClients } from "../exec/deploy.ts";
import { describeHolder } from "../exec/lock.ts";
import { settleAll } from "../exec/parallel.ts";
import type { Ctx } from "./context.ts";

export async function lockCommand(ctx: Ctx, action: "status" | "release"): Promise<number> {
  const clients = agentClients(ctx.project);
  const res = await settleAll(clients, 20, async (c) => {
    const info = await c.call<LockInfo | null>("lock.info");
    if (action === "release" && info) await c.call("lock.release", { force: true });
    return info;
  });
  clients.forEach((c) => c.close());
  let failed = 0;
  res.forEach((r, i) => {
    const m = clients[i]!.machine;
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
