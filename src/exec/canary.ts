// The canary wave's watch (deploy.canary_wait): after its machines switch, their new
// instances must stay up, unrestarted and healthy for a while before the next wave.
// The health gate catches a release that never comes up; this catches one that
// comes up and then falls over (a crash a few seconds in, a leak, a bad migration
// path hit by the first real requests).
import type { AgentClient } from "../transport/agent-client.ts";
import type { AppView } from "../contracts/rpc.ts";

export interface CanaryProblem {
  machine: string;
  reason: string;
  failedInstance?: string;
  /** Failed health checks only: the watch waits for it to last (UNHEALTHY_LOOKS) before it ends the rollout. */
  unhealthy?: boolean;
}

const LOOK_EVERY_MS = 1000;
/** Looks in a row an instance must fail its health checks for (one slow answer is not a broken release). */
const UNHEALTHY_LOOKS = 3;
/** An agent that does not answer a look within this is a problem: the rollout would go on blind. */
const LOOK_TIMEOUT_MS = 10_000;

/** What is wrong with the canary's instances now, against what they were when the watch began (`seen`: restarts). */
export function canaryProblem(machine: string, view: AppView | undefined, release: number, seen: Map<string, number>): CanaryProblem | undefined {
  if (!view || view.active !== release) return { machine, reason: `release ${release} is no longer the active one (active: ${view?.active ?? "none"})` };
  const now = new Map(view.instances.filter((x) => x.release === release).map((x) => [x.name, x]));
  for (const [name, restarts] of seen) {
    const x = now.get(name);
    if (!x) return { machine, reason: `instance ${name} of release ${release} is gone`, failedInstance: name };
    if (x.restarts > restarts) return { machine, reason: `instance ${name} restarted ${x.restarts - restarts} time(s) during the canary wait${x.lastExit ? ` (${x.lastExit.reason})` : ""}`, failedInstance: name };
    if (!x.running) return { machine, reason: `instance ${name} stopped during the canary wait`, failedInstance: name };
    // No health record yet (an agent that restarted) is not a failure.
    if (!x.healthy && x.health !== "unknown") return { machine, reason: `instance ${name} failed its health checks during the canary wait (${x.health})`, failedInstance: name, unhealthy: true };
  }
  return undefined;
}

async function appView(c: AgentClient, project: string, app: string): Promise<AppView | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${LOOK_TIMEOUT_MS / 1000}s`)), LOOK_TIMEOUT_MS)));
  try {
    const st = await Promise.race([c.call("state"), late]);
    return st.apps.find((a) => a.project === project && a.app === app);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Watches the canary machines' instances of `release` for `ms`, looking every second; the first problem ends the
 * watch. A machine that cannot be asked is a problem too: the rollout would go on blind. `stop()` (Ctrl-C, a lost
 * lock) ends the watch early without a problem: the caller sees why.
 */
export async function watchCanary(clients: AgentClient[], project: string, app: string, release: number, ms: number, stop: () => Promise<boolean>): Promise<CanaryProblem | undefined> {
  const ask = async (c: AgentClient) => {
    try {
      return { c, view: await appView(c, project, app) };
    } catch (e) {
      return { c, error: (e as Error).message.split("\n")[0] };
    }
  };
  const seen = new Map<string, Map<string, number>>();
  for (const r of await Promise.all(clients.map(ask))) {
    if ("error" in r) return { machine: r.c.machine, reason: `could not watch the canary: ${r.error}` };
    const p = canaryProblem(r.c.machine, r.view, release, new Map());
    if (p) return p;
    seen.set(r.c.machine, new Map(r.view!.instances.filter((x) => x.release === release).map((x) => [x.name, x.restarts])));
  }
  const until = Date.now() + ms;
  const sick = new Map<string, number>();
  for (;;) {
    // Checked at least once more after the wait, however short.
    await new Promise((r) => setTimeout(r, Math.max(0, Math.min(LOOK_EVERY_MS, until - Date.now()))));
    if (await stop()) return undefined;
    const looked = new Set<string>();
    for (const r of await Promise.all(clients.map(ask))) {
      if ("error" in r) return { machine: r.c.machine, reason: `could not watch the canary: ${r.error}` };
      const p = canaryProblem(r.c.machine, r.view, release, seen.get(r.c.machine)!);
      if (!p) continue;
      if (!p.unhealthy) return p;
      const key = `${p.machine}/${p.failedInstance}`;
      looked.add(key);
      const n = (sick.get(key) ?? 0) + 1;
      sick.set(key, n);
      if (n >= UNHEALTHY_LOOKS) return { ...p, reason: `${p.reason}, ${n} looks in a row` };
    }
    for (const k of [...sick.keys()]) if (!looked.has(k)) sick.delete(k);
    // A release that is failing its checks when the wait is up gets its looks: it is not let through on a coin toss.
    if (Date.now() >= until && !sick.size) return undefined;
  }
}
