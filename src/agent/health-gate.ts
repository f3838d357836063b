// The health gate: an instance takes traffic only after `healthy_threshold`
// passing checks in a row; its exit or the deadline fails it. A starting
// instance is probed every FAST_PROBE_MS until its first pass (so a release that
// boots in 240 ms is seen at ~300 ms, not at the next 1 s tick); the passes that
// confirm it come at the configured interval, as strict as before.
import type { InstanceRecord, ReleaseSpec } from "../contracts/model.ts";
import { runtimeOf, type Machine } from "./effects.ts";
import { addressOf } from "./instances.ts";

export type GateResult = { ok: true } | { ok: false; reason: string };

/** How often a starting instance is probed until it first answers. */
export const FAST_PROBE_MS = 100;

/** `carried`: passes in a row already seen (a warm instance's, see activation's passesCarried), fewer than
 *  `healthy_threshold`: at least one pass here is always needed. */
export async function waitHealthy(m: Machine, inst: InstanceRecord, spec: ReleaseSpec, deadlineAt: number, carried = 0): Promise<GateResult> {
  const h = spec.health;
  const { clock, probe } = m.fx;
  let passes = Math.max(0, Math.min(carried, h.healthyThreshold - 1));
  let everPassed = passes > 0;
  let last = "no check yet";
  for (;;) {
    const st = await runtimeOf(m, inst).status(inst.name);
    if (!st.running) {
      const oom = st.oomKilled ? ", killed for using too much memory" : "";
      return { ok: false, reason: `instance ${inst.name} exited with code ${st.exitCode ?? "?"}${oom} before becoming healthy` };
    }
    const r = await probe(addressOf(inst), inst.hostPort, h.path, h.timeoutMs);
    if (r.ok) {
      everPassed = true;
      if (++passes >= h.healthyThreshold) return { ok: true };
    } else {
      passes = 0;
      last = r.detail;
    }
    // Fast only until the first pass: after that (a pass, or a failure following one) the configured interval.
    const wait = everPassed ? h.intervalMs : Math.min(FAST_PROBE_MS, h.intervalMs);
    if (clock.now() + wait > deadlineAt) {
      return { ok: false, reason: `instance ${inst.name} was not healthy within the ${Math.round(h.deadlineMs / 1000)}s deadline (${h.path !== undefined ? `last check of ${h.path}` : "last TCP connect"}: ${last})` };
    }
    await clock.sleep(wait);
  }
}
