// skiff lock status | release: see or break the project's deploy lock. Release
// breaks only a lock whose holder stopped sending heartbeats (its deploy died);
// a live one needs --force, since breaking it lets a second deploy run beside it.
import type { LockInfo } from "../contracts/model.ts";
import { askAll } from "../transport/agent-client.ts";
import { describeHolder, STALE_AFTER_MS } from "../exec/lock.ts";
import type { Ctx } from "./context.ts";

type Released = { released: boolean; holder?: LockInfo; live?: boolean; heartbeatAgeMs?: number };

export async function lockCommand(ctx: Ctx, action: "status" | "release", opts: { force?: boolean } = {}): Promise<number> {
  const project = ctx.project.name;
  const res = await askAll(ctx.project, async (c): Promise<Released> => {
    if (action === "status") {
      const info = await c.call<LockInfo | null>("lock.info", { project });
      return { released: false, holder: info ?? undefined };
    }
    // The agent judges the heartbeat's age by its own clock, the one that wrote it.
    return c.call<Released>("lock.release", { project, force: opts.force === true, staleAfterMs: STALE_AFTER_MS });
  });
  let failed = 0;
  res.forEach((r) => {
    const m = r.machine;
    if (!r.ok) {
      failed++;
      return void process.stderr.write(`${m}: unreachable: ${(r.error as Error).message.split("\n")[0]}\n`);
    }
    const v = r.value;
    if (v.live) failed++;
    if (ctx.json) return ctx.out(JSON.stringify({ machine: m, lock: v.holder ?? null, released: v.released, ...(v.live ? { live: true } : {}) }));
    if (!v.holder) ctx.out(`${m}: not locked`);
    else if (action === "status") ctx.out(`${m}: locked by ${describeHolder(v.holder)}`);
    else if (v.released) ctx.out(`${m}: released the lock held by ${describeHolder(v.holder)}`);
    else {
      const age = v.heartbeatAgeMs !== undefined ? `its last heartbeat was ${(v.heartbeatAgeMs / 1000).toFixed(0)}s ago` : "it sends heartbeats";
      process.stderr.write(`${m}: refused: the lock is live — held by ${describeHolder(v.holder)}; ${age}\n`);
    }
  });
  if (res.some((r) => r.ok && r.value.live)) process.stderr.write(`hint: that deploy is still running; wait for it (skiff deploy --wait). If you know it is dead, pass --force\n`);
  return failed ? 1 : 0;
}
