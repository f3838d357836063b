// The deploy lock: one per project, taken on every target machine (an atomic
// mkdir there, under locks/<project>), recording who, when and what, kept alive
// by a heartbeat. Machines are locked one at a time in name order, so of two
// deploys started together the one that gets the first machine gets them all
// and the other fails naming it (no deadlock of half-held locks). A holder
// that learns its lock is gone (broken, taken, or unconfirmed for too long)
// stops and returns what it switched. A lock whose heartbeat stopped belongs
// to a dead deploy; `skiff lock release` breaks only such a lock (or --force).
import { hostname, userInfo } from "node:os";
import type { LockInfo } from "../agent/model.ts";
import { UserError } from "../errors.ts";
import type { Project } from "../config/model.ts";
import { AgentRefused, agentClients, type AgentClient } from "./agent-client.ts";
import { settleAll } from "./parallel.ts";

export const STALE_AFTER_MS = 30_000;
const HEARTBEAT_MS = 5_000;
const RETRY_MS = 2_000;

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
  /** The locked machines, in the project's order. */
  clients: AgentClient[];
  unreachable: { machine: string; error: UserError }[];
  /** Heartbeats every machine now: why the lock is no longer this deploy's, or undefined while it holds. */
  check(): Promise<string | undefined>;
  release(): Promise<void>;
}

export interface LockOptions {
  project: string;
  skipUnreachable?: boolean;
  waitMs?: number;
  heartbeatMs?: number;
  staleAfterMs?: number;
}

const byName = (a: AgentClient, b: AgentClient) => (a.machine < b.machine ? -1 : a.machine > b.machine ? 1 : 0);

export async function acquireLocks(clients: AgentClient[], command: string, opts: LockOptions): Promise<HeldLock> {
  const project = opts.project;
  const info: LockInfo = { holder: `${whoAmI()}#${process.pid}-${Date.now()}`, host: hostname(), pid: process.pid, command, since: new Date().toISOString(), heartbeat: new Date().toISOString() };
  const staleAfterMs = opts.staleAfterMs ?? STALE_AFTER_MS;
  const until = Date.now() + (opts.waitMs ?? 0);

  // Reach every machine first (in parallel), so an unreachable one changes nothing anywhere.
  const reach = await settleAll(clients, 20, (c) => c.call("ping"));
  const down: { machine: string; error: UserError }[] = [];
  reach.forEach((r, i) => {
    if (r.ok) return;
    if (!(r.error instanceof UserError) || r.error instanceof AgentRefused) throw r.error;
    down.push({ machine: clients[i]!.machine, error: r.error });
  });
  if (down.length && !opts.skipUnreachable) {
    const names = down.map((d) => d.machine).join(", ");
    const first = down[0]!.error;
    throw new UserError(`${names} unreachable; nothing was changed on any machine\n${first.message}`, { hint: first.hint ? `${first.hint}; or pass --skip-unreachable to go on without ${names}` : `pass --skip-unreachable to go on without ${names}` });
  }
  const reachable = clients.filter((c) => !down.some((d) => d.machine === c.machine));
  if (!reachable.length) throw new UserError("no machine could be reached");

  const held: AgentClient[] = [];
  const undo = async () => {
    await Promise.all(held.map((c) => c.call("lock.release", { project, holder: info.holder }).catch(() => {})));
    held.length = 0;
  };
  for (;;) {
    let busy: { machine: string; holder?: LockInfo } | undefined;
    try {
      // One machine at a time, in name order: the first machine decides between deploys started together.
      for (const c of [...reachable].sort(byName)) {
        const r = await c.call<{ ok: boolean; holder?: LockInfo }>("lock.acquire", { project, info });
        if (!r.ok) {
          busy = { machine: c.machine, holder: r.holder };
          break;
        }
        held.push(c);
      }
    } catch (e) {
      await undo();
      if (e instanceof UserError) throw new UserError(`${e.message}\nnothing was changed on any machine`, { hint: e.hint });
      throw e;
    }
    if (!busy) break;
    await undo();
    if (Date.now() < until) {
      await new Promise((r) => setTimeout(r, RETRY_MS));
      continue;
    }
    throw new UserError(`another deploy holds the lock of project ${project} on ${busy.machine}: ${describeHolder(busy.holder)}`, {
      hint: "wait for it (skiff deploy --wait), or if it is dead, run `skiff lock release`",
    });
  }

  // Lost: a machine says the lock is not ours (broken or taken), or has not confirmed it for half the
  // time after which another deploy may call it stale.
  const confirmed = new Map(held.map((c) => [c.machine, Date.now()]));
  let lost: string | undefined;
  const beat = async (): Promise<string | undefined> => {
    if (lost) return lost;
    await Promise.all(
      held.map(async (c) => {
        try {
          if (await c.call<boolean>("lock.heartbeat", { project, holder: info.holder })) confirmed.set(c.machine, Date.now());
          else lost ??= `the deploy lock on ${c.machine} was broken or taken by another deploy`;
        } catch (e) {
          const since = Date.now() - confirmed.get(c.machine)!;
          if (since > staleAfterMs / 2) lost ??= `${c.machine} has not confirmed the deploy lock for ${Math.round(since / 1000)}s (${(e as Error).message.split("\n")[0]})`;
        }
      }),
    );
    return lost;
  };
  const timer = setInterval(() => void beat(), opts.heartbeatMs ?? HEARTBEAT_MS);
  timer.unref();
  return {
    clients: clients.filter((c) => held.includes(c)),
    unreachable: down,
    check: beat,
    release: async () => {
      clearInterval(timer);
      await undo();
    },
  };
}

/** Opens a channel to every machine, takes the deploy lock, runs `work`, then releases the lock and
 *  closes every channel whatever happened (a failed lock included). */
export async function withDeployLock<T>(project: Project, command: string, opts: Omit<LockOptions, "project">, work: (lock: HeldLock) => Promise<T>): Promise<T> {
  const clients = agentClients(project);
  try {
    const lock = await acquireLocks(clients, command, { ...opts, project: project.name });
    try {
      return await work(lock);
    } finally {
      await lock.release();
    }
  } finally {
    for (const c of clients) c.close();
  }
}
