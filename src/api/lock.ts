// The project's deploy lock on each machine: who holds it, and breaking it.
// Release breaks only a lock whose holder stopped sending heartbeats (its deploy
// died); a live one needs `force`, since breaking it lets a second deploy run beside it.
import type { Project } from "../config/model.ts";
import type { LockInfo } from "../contracts/model.ts";
import { STALE_AFTER_MS } from "../exec/lock.ts";
import { askAll } from "../transport/agent-client.ts";

export type { LockInfo };

export type LockState =
  | { machine: string; ok: true; /** The holder, or null when not locked. */ lock: LockInfo | null; released: boolean; /** Release refused: its holder still sends heartbeats. */ live?: boolean; heartbeatAgeMs?: number }
  | { machine: string; ok: false; error: string };

type Released = { released: boolean; holder?: LockInfo; live?: boolean; heartbeatAgeMs?: number };

export async function lockOn(project: Project, action: "status" | "release", force = false): Promise<LockState[]> {
  const res = await askAll(project, async (c): Promise<Released> => {
    if (action === "status") return { released: false, holder: (await c.call<LockInfo | null>("lock.info", { project: project.name })) ?? undefined };
    // The agent judges the heartbeat's age by its own clock, the one that wrote it.
    return c.call<Released>("lock.release", { project: project.name, force, staleAfterMs: STALE_AFTER_MS });
  });
  return res.map((r): LockState => {
    if (!r.ok) return { machine: r.machine, ok: false, error: (r.error as Error).message };
    const v = r.value;
    return { machine: r.machine, ok: true, lock: v.holder ?? null, released: v.released, ...(v.live ? { live: true, heartbeatAgeMs: v.heartbeatAgeMs } : {}) };
  });
}
