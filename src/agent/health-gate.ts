// The health gate: an instance takes traffic only after `healthy_threshold`
// passing checks in a row; its exit or the deadline fails it.
import type { InstanceRecord, ReleaseSpec } from "../contracts/model.ts";
import { runtimeOf, type Machine } from "./effects.ts";
import { addressOf } from "./instances.ts";

export type GateResult = { ok: true } | { ok: false; reason: string };

export async function waitHealthy(m: Machine, inst: InstanceRecord, spec: ReleaseSpec, deadlineAt: number): Promise<GateResult> {
  const h = spec.health;
  const { clock, probe } = m.fx;
  let passes = 0;
  let last = "no check yet";
  for (;;) {
    const st = await runtimeOf(m, inst).status(inst.name);
    if (!st.running) {
      const oom = st.oomKilled ? ", killed for using too much memory" : "";
      return { ok: false, reason: `instance ${inst.name} exited with code ${st.exitCode ?? "?"}${oom} before becoming healthy` };
    }
    const r = await probe(addressOf(inst), inst.hostPort, h.path, h.timeoutMs);
    if (r.ok) {
      if (++passes >= h.healthyThreshold) return { ok: true };
    } else {
      passes = 0;
      last = r.detail;
    }
    if (clock.now() + h.intervalMs > deadlineAt) {
      return { ok: false, reason: `instance ${inst.name} was not healthy within the ${Math.round(h.deadlineMs / 1000)}s deadline (last check of ${h.path}: ${last})` };
    }
    await clock.sleep(h.intervalMs);
  }
}
