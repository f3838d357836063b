// The deploy lock: taken on every target machine (an atomic mkdir there),
// recording who, when and what, kept alive by a heartbeat. A lock whose
// heartbeat stopped belongs to a dead deploy; `skiff lock release` breaks it.
import { hostname, userInfo } from "node:os";
import type { LockInfo } from "../agent/model.ts";
import { UserError } from "../errors.ts";
import type { Project } from "../config/model.ts";
import { agentClients, type AgentClient } from "./agent-client.ts";
import { settleAll } from "./parallel.ts";

export const STALE_AFTER_MS = 30_000;
const HEARTBEAT_MS = 5_000;

export function whoAmI(): string {
  return process.env.SKIFF_USER || `${userInfo().username}@${hostname()}`;
}

export function describeHolder(h: LockInfo | undefined, now = Date.now()): string {
  if (!h) return "someone (no details recorded)";
  const age = now - Date.parse(h.heartbeat);
  const dead = Number.isFinite(age) && age > STALE_AFTER_MS;
  return `${h.holder} (${h.command}, pid ${h.pid} on ${h.host}, since ${h.since})${dead ? `; its last heartbeat was ${Math.round(age / 1000)}s ago, so that deploy looks dead` : ""}`;
}

export interface HeldLock {
  clients: AgentClient[];
  unreachable: { machine: string; error: UserError }[];
  release(): Promise<void>;
}

export async function acquireLocks(clients: AgentClient[], command: string, opts: { skipUnreachable?: boolean; waitMs?: number } = {}): Promise<HeldLock> {
  const info: LockInfo = { holder: `${whoAmI()}#${process.pid}-${Date.now()}`, host: hostname(), pid: process.pid, command, since: new Date().toISOString(), heartbeat: new Date().toISOString() };
  const until = Date.now() + (opts.waitMs ?? 0);
  for (;;) {
    const res = await settleAll(clients, 20, (c) => c.call<{ ok: boolean; holder?: LockInfo }>("lock.acquire", { info }));
    const held = clients.filter((_, i) => res[i]!.ok && (res[i] as { value: { ok: boolean } }).value.ok);
    const busy = clients.map((c, i) => ({ c, r: res[i]! })).filter((x) => x.r.ok && !(x.r as { value: { ok: boolean } }).value.ok);
    const down = clients.map((c, i) => ({ c, r: res[i]! })).filter((x) => !x.r.ok);
    const undo = () => Promise.all(held.map((c) => c.call("lock.release", { holder: info.holder }).catch(() => {})));
    for (const d of down) if (!((d.r as { error: unknown }).error instanceof UserError)) throw (d.r as { error: unknown }).error;

    if (busy.length) {
      await undo();
      if (Date.now() < until) {
        await new Promise((r) => setTimeout(r, 2000));
        continue;
      }
      const holder = (busy[0]!.r as { value: { holder?: LockInfo } }).value.holder;
      throw new UserError(`another deploy holds the lock on ${busy.map((b) => b.c.machine).join(", ")}: ${describeHolder(holder)}`, {
        hint: "wait for it (skiff deploy --wait), or if it is dead, run `skiff lock release`",
      });
    }
    if (down.length && !opts.skipUnreachable) {
      await undo();
      const first = (down[0]!.r as { error: UserError }).error;
      throw new UserError(`${down.map((d) => d.c.machine).join(", ")} unreachable; nothing was changed on any machine\n${first.message}`, { hint: first.hint ? `${first.hint}; or pass --skip-unreachable to go on without ${down.map((d) => d.c.machine).join(", ")}` : `pass --skip-unreachable to go on without ${down.map((d) => d.c.machine).join(", ")}` });
    }
    if (!held.length) throw new UserError("no machine could be reached");
    const timer = setInterval(() => void Promise.all(held.map((c) => c.call("lock.heartbeat", { holder: info.holder }).catch(() => {}))), HEARTBEAT_MS);
    timer.unref();
    return {
      clients: held,
      unreachable: down.map((d) => ({ machine: d.c.machine, error: (d.r as { error: UserError }).error })),
      release: async () => {
        clearInterval(timer);
        await undo();
      },
    };
  }
}

/** Opens a channel to every machine, takes the deploy lock, runs `work`, then releases the lock and
 *  closes every channel whatever happened (a failed lock included). */
export async function withDeployLock<T>(project: Project, command: string, opts: { skipUnreachable?: boolean; waitMs?: number }, work: (lock: HeldLock) => Promise<T>): Promise<T> {
  const clients = agentClients(project);
  try {
    const lock = await acquireLocks(clients, command, opts);
    try {
      return await work(lock);
    } finally {
      await lock.release();
    }
  } finally {
    for (const c of clients) c.close();
  }
}
