// Holding an app stopped on this machine (`skiff accessory stop`) and letting it run again (`start`). A held app's
// instances are out of HAProxy and stopped, but kept: the state says who held it and when, the supervisor leaves
// it alone (no restarts, also after an agent restart), and `start` starts the same instances again.
import type { HoldParams, HoldResult } from "../contracts/rpc.ts";
import { backendName } from "../proxy/model.ts";
import { isoAt, runtimeOf, type Machine } from "./effects.ts";
import { fence } from "./fence.ts";
import { waitHealthy } from "./health-gate.ts";
import { addressOf } from "./instances.ts";

async function anyRunning(m: Machine, insts: { name: string; runtime?: "docker" | "process" }[]): Promise<boolean> {
  for (const i of insts) if ((await runtimeOf(m, i).status(i.name)).running) return true;
  return false;
}

export function holdApp(m: Machine, p: HoldParams): Promise<HoldResult> {
  return m.mutex.run(`${p.project}/${p.app}`, async () => {
    fence(m.store, p.project, p.holder);
    const st = m.store.state(p.project, p.app);
    const spec = st.active !== null ? m.store.release(p.project, p.app, st.active) : undefined;
    if (!spec) return { changed: false, instances: 0, reason: "no release of it is active here" };
    // Held already: a repeat stops whatever still runs (a stop that failed half way is finished by asking again).
    const running = p.held && st.held ? await anyRunning(m, [...st.instances, ...st.warm]) : false;
    if (Boolean(st.held) === p.held && !running) return { changed: false, instances: st.instances.length };
    const backend = backendName(p.project, p.app);
    const t0 = m.fx.clock.now();
    const record = (result: "ok" | "failed", reason?: string) =>
      m.store.appendHistory({ at: isoAt(m), machine: p.machine, project: p.project, app: p.app, release: spec.release, action: p.held ? "stop" : "start", result, reason, by: p.by, durationMs: m.fx.clock.now() - t0 });
    if (p.held) {
      st.held = { at: isoAt(m), ...(p.by ? { by: p.by } : {}) };
      m.store.saveState(st);
      for (const i of [...st.instances, ...st.warm]) {
        await m.proxy.release(backend, i.name).catch(() => {});
        await runtimeOf(m, i).stop(i.name, spec.stopTimeoutS);
        m.health.delete(i.name);
      }
      record("ok");
      m.log(`${p.app}: stopped and held (${st.instances.length} instance(s))`);
      return { changed: true, instances: st.instances.length };
    }
    delete st.held;
    m.store.saveState(st);
    const problems: string[] = [];
    const deadlineAt = m.fx.clock.now() + spec.health.deadlineMs;
    for (const i of st.instances) {
      try {
        await runtimeOf(m, i).restart(i.name);
        const gate = await waitHealthy(m, i, spec, deadlineAt);
        if (!gate.ok) problems.push(`${i.name}: ${gate.reason}`);
        // Not healthy yet: in its slot all the same, HAProxy's own check brings it UP (the supervisor restarts it if it dies).
        i.slot = await m.proxy.enable(backend, i.name, addressOf(i), i.hostPort, { gated: gate.ok });
      } catch (e) {
        problems.push(`${i.name}: ${(e as Error).message}`);
      }
    }
    m.store.saveState(st);
    record(problems.length ? "failed" : "ok", problems.join("; ") || undefined);
    m.log(`${p.app}: started again${problems.length ? ` (${problems.join("; ")})` : ""}`);
    return { changed: true, instances: st.instances.length, ...(problems.length ? { reason: problems.join("; ") } : {}) };
  });
}
