// skiff lock status | release: see or break the project's deploy lock. Release
// breaks only a lock whose holder stopped sending heartbeats (its deploy died);
// a live one needs --force, since breaking it lets a second deploy run beside it.
import { describeHolder } from "../exec/lock.ts";
import { skiffFor, type Ctx } from "./context.ts";

export async function lockCommand(ctx: Ctx, action: "status" | "release", opts: { force?: boolean } = {}): Promise<number> {
  const res = action === "status" ? await skiffFor(ctx).lock.status() : await skiffFor(ctx).lock.release({ force: opts.force });
  let failed = 0;
  for (const r of res) {
    const m = r.machine;
    if (!r.ok) {
      failed++;
      process.stderr.write(`${m}: unreachable: ${r.error.split("\n")[0]}\n`);
      continue;
    }
    if (r.live) failed++;
    if (ctx.json) ctx.out(JSON.stringify({ machine: m, lock: r.lock, released: r.released, ...(r.live ? { live: true } : {}) }));
    else if (!r.lock) ctx.out(`${m}: not locked`);
    else if (action === "status") ctx.out(`${m}: locked by ${describeHolder(r.lock)}`);
    else if (r.released) ctx.out(`${m}: released the lock held by ${describeHolder(r.lock)}`);
    else {
      const age = r.heartbeatAgeMs !== undefined ? `its last heartbeat was ${(r.heartbeatAgeMs / 1000).toFixed(0)}s ago` : "it sends heartbeats";
      process.stderr.write(`${m}: refused: the lock is live — held by ${describeHolder(r.lock)}; ${age}\n`);
    }
  }
  if (res.some((r) => r.ok && r.live)) process.stderr.write(`hint: that deploy is still running; wait for it (skiff deploy --wait). If you know it is dead, pass --force\n`);
  return failed ? 1 : 0;
}
