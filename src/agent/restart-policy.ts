// The restart policy, as pure decisions: given what the agent knows of an
// instance's health (health-book.ts), what it just observed, and the clock,
// say what to do — nothing, wait, or restart after a backoff — and how the
// instance's health record changes. The supervisor carries the decisions out.
import type { InstanceStatus } from "../runtime/types.ts";
import type { CheckResult } from "./health.ts";
import type { Health } from "./health-book.ts";

/** A running instance is restarted only after failing checks this long (HAProxy routes around it meanwhile)… */
export const UNHEALTHY_RESTART_MS = 10_000;
/** …and this many times in a row. */
export const FAILS_BEFORE_RESTART = 3;
/** Healthy this long, an instance's restart backoff starts again from the first step. */
export const BACKOFF_RESET_MS = 60_000;
export const BACKOFF_FIRST_MS = 1000;
export const BACKOFF_MAX_MS = 30_000;

/** The wait before restart number n+1 of a run of restarts: 1 s doubling up to 30 s. */
export const backoffMs = (consecutiveRestarts: number): number => Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** consecutiveRestarts);

export type Decision =
  | { kind: "none" }
  /** Failing, but not yet long enough (or another instance of the app is restarting): ask again later. */
  | { kind: "wait"; until?: number }
  | { kind: "restart"; reason: string; code: number | null; oomKilled: boolean; delayMs: number };

export interface Judgement {
  decision: Decision;
  /** The fields of the instance's health record that change. */
  patch: Partial<Health>;
}

/** Passes in a row after which an instance counts as stable, and how often a stable one is probed over HTTP. */
export const STABLE_AFTER_PASSES = 10;
export const STABLE_PROBE_MS = 5000;

/** Whether a running instance's check includes an HTTP probe. Its process is looked at every interval (an exit is
 *  caught as fast as before); a stable instance is probed every STABLE_PROBE_MS, since HAProxy checks it at the
 *  interval anyway and takes it out of traffic on its own; one failure and it is probed at the interval again. */
export const probeDue = (h: Health, now: number, intervalMs: number): boolean =>
  h.probedAt === undefined || !h.healthy || (h.passes ?? 0) < STABLE_AFTER_PASSES || now - h.probedAt >= Math.max(intervalMs, STABLE_PROBE_MS);

/** A running stable instance looked at without a probe: still healthy, and a minute healthy ends its run of restarts
 *  as a passing probe would. */
export function afterLook(h: Health, now: number): Partial<Health> {
  return h.healthy && h.healthySince !== undefined && now - h.healthySince > BACKOFF_RESET_MS ? { consecutiveRestarts: 0 } : {};
}

/** Probed healthy STABLE_AFTER_PASSES times in a row and not failing since. */
export const isStable = (h: Health): boolean => h.probedAt !== undefined && h.healthy && (h.passes ?? 0) >= STABLE_AFTER_PASSES;

/** When the instance's next check is due: never while it restarts; once per health interval; a stable one whose
 *  exit the runtime reports as an event (`exitsWatched`) needs no look between its probes, so it is next due at its
 *  probe (an exit is looked at when it happens, HAProxy checks it at the interval meanwhile). */
export function nextCheckAt(h: Health, intervalMs: number, exitsWatched = false): number {
  if (h.busy) return Infinity;
  const look = h.at + intervalMs;
  return exitsWatched && isStable(h) ? Math.max(look, h.probedAt! + Math.max(intervalMs, STABLE_PROBE_MS)) : look;
}

/** Whether the instance is due a check (see nextCheckAt). */
export const isDue = (h: Health, now: number, intervalMs: number, exitsWatched = false): boolean => nextCheckAt(h, intervalMs, exitsWatched) <= now;

/** A restart decided now: the record goes busy and unhealthy, and the run of restarts grows. */
function restartNow(h: Health, reason: string, code: number | null, oomKilled: boolean): Judgement {
  return {
    decision: { kind: "restart", reason, code, oomKilled, delayMs: backoffMs(h.consecutiveRestarts) },
    patch: { busy: true, healthy: false, passes: 0, detail: reason, consecutiveRestarts: h.consecutiveRestarts + 1 },
  };
}

/** The instance is not running (it exited, or is gone): restart it. */
export function afterExit(h: Health, s: InstanceStatus): Judgement {
  const reason = s.exists ? `exited with code ${s.exitCode ?? "?"}${s.oomKilled ? " (out of memory)" : ""}` : "instance is gone";
  return restartNow(h, reason, s.exitCode, s.oomKilled);
}

/** One health check of a running instance. A slow or stuck instance is restarted only after a while, and one at
 *  a time per app (`othersRestarting`): restarting several at once under load would take the whole app out. */
export function afterCheck(h: Health, r: CheckResult, now: number, o: { path?: string; othersRestarting: boolean }): Judgement {
  if (r.ok) {
    const healthySince = h.healthy ? h.healthySince : now;
    const patch: Partial<Health> = { healthy: true, detail: r.detail, fails: 0, passes: (h.passes ?? 0) + 1, failingSince: undefined, healthySince };
    if (healthySince && now - healthySince > BACKOFF_RESET_MS) patch.consecutiveRestarts = 0;
    return { decision: { kind: "none" }, patch };
  }
  const fails = h.fails + 1;
  const failingSince = h.failingSince ?? now;
  const patch: Partial<Health> = { fails, passes: 0, failingSince, healthy: false, detail: r.detail };
  if (fails >= FAILS_BEFORE_RESTART && now - failingSince >= UNHEALTHY_RESTART_MS && !o.othersRestarting) {
    const reason = `unhealthy: ${o.path ?? "TCP connect"} answered ${r.detail}, failing for ${Math.round((now - failingSince) / 1000)}s`;
    const r2 = restartNow({ ...h, ...patch }, reason, null, false);
    return { decision: r2.decision, patch: { ...patch, ...r2.patch } };
  }
  return { decision: { kind: "wait", until: o.othersRestarting ? undefined : Math.max(now, failingSince + UNHEALTHY_RESTART_MS) }, patch };
}

/** After the restart's own health gate: healthy again, or still failing (the next check decides again). */
export function afterRestart(ok: boolean, detail: string, now: number): Partial<Health> {
  return ok ? { healthy: true, detail, fails: 0, failingSince: undefined, healthySince: now } : { detail };
}
