// Activation of one release on this machine, start-first: start its instances,
// gate them on health, enable them in HAProxy, demote the old release to backup
// slots (kept warm for the probation time), drain it, record the outcome.
import type { ActivateParams, ActivateResult, ActivationPhases } from "../contracts/activate.ts";
import { localCount, type AppState, type HistoryEntry, type InstanceRecord, type ReleaseSpec } from "../contracts/model.ts";
import { backendName } from "../proxy/model.ts";
import { isoAt, runtimeOf, type Machine } from "./effects.ts";
import { fence } from "./fence.ts";
import { newHealth, type Health } from "./health-book.ts";
import { waitHealthy } from "./health-gate.ts";
import { isStable, STABLE_PROBE_MS } from "./restart-policy.ts";
import { addressOf, BIND, discard, startInstance, usedPorts } from "./instances.ts";
import { prune } from "./pruning.ts";
import { allInOrder } from "../lib/parallel.ts";

/** An ISO time `ms` after `now`, held within the dates JavaScript can write (a huge probation means "for good"). */
export function isoAfter(ms: number, now = Date.now()): string {
  const MAX = 8.64e15;
  const t = Number.isFinite(ms) ? Math.min(now + Math.max(0, ms), MAX) : MAX;
  return new Date(t).toISOString();
}

/** One activation under way: what every step needs. */
interface Run {
  m: Machine;
  p: ActivateParams;
  spec: ReleaseSpec;
  st: AppState;
  backend: string;
  count: number;
  /** Milliseconds per step, in order (see ActivateResult.phases). */
  phases: ActivationPhases;
  /** Ends the step under way (its time since the last mark goes to `name`). */
  mark(name: keyof ActivationPhases): void;
  result(r: Omit<ActivateResult, "durationMs" | "machine" | "release">): ActivateResult;
  record(e: Partial<HistoryEntry> & Pick<HistoryEntry, "result">): void;
}

interface Failure {
  reason: string;
  inst?: InstanceRecord;
}

export interface ActivateHooks {
  /** Runs on the new instances after their health gate, before they take traffic; a throw fails the activation
   *  (a moved database's data restored into it: handlers.ts). */
  beforeServing?: (fresh: InstanceRecord[]) => Promise<void>;
}

export function activate(m: Machine, p: ActivateParams, hooks: ActivateHooks = {}): Promise<ActivateResult> {
  return m.mutex.run(`${p.project}/${p.app}`, async () => {
    fence(m.store, p.project, p.holder, Boolean(p.revert));
    return activateLocked(m, p, hooks);
  });
}

async function activateLocked(m: Machine, p: ActivateParams, hooks: ActivateHooks): Promise<ActivateResult> {
  const t0 = m.fx.clock.now();
  const spec = m.store.release(p.project, p.app, p.release);
  if (!spec) throw new Error(`release ${p.release} of ${p.app} is not on this machine`);
  let last = t0;
  const phases: ActivationPhases = {};
  const run: Run = {
    m, p, spec, phases,
    mark: (name) => {
      const now = m.fx.clock.now();
      phases[name] = (phases[name] ?? 0) + (now - last);
      last = now;
    },
    st: m.store.state(p.project, p.app),
    backend: backendName(p.project, p.app),
    count: localCount(spec, p.machine),
    result: (r) => ({ ...r, release: p.release, machine: p.machine, durationMs: m.fx.clock.now() - t0, phases: { ...phases } }),
    record: (e) => m.store.appendHistory({ at: isoAt(m), machine: p.machine, project: p.project, app: p.app, release: p.release, action: p.action, deployId: p.deployId, by: p.by, durationMs: m.fx.clock.now() - t0, phases: { ...phases }, image: spec.image, imageId: spec.imageId, commit: spec.git?.commit, ...e }),
  };
  const early = await refusedOrUnchanged(run);
  if (early) return early;
  // What could throw is computed before the switch, never after it.
  const warmUntil = p.keepWarm ? null : isoAfter(spec.probationMs, m.fx.clock.now());
  await m.proxy.ensureRunning();
  await m.proxy.ensureBackend(run.backend, { routes: spec.routes, healthPath: spec.health.path, intervalMs: spec.health.intervalMs, timeoutMs: spec.health.timeoutMs, freeSlots: run.count, httpPort: p.httpPort, httpsPort: p.httpsPort, tcpPort: spec.protocol === "tcp" ? spec.internalPort : undefined, project: p.project, app: p.app });
  run.mark("prepare");
  // An accessory's data has one owner at a time: the old instance stops before the new one starts.
  const stopped = spec.stopFirst ? await stopServing(run) : [];

  const { reuse, fresh, failure: startFailure } = await startAndGate(run);
  let failure = startFailure;
  if (!failure && hooks.beforeServing) {
    await hooks.beforeServing(fresh).catch((e: Error) => void (failure = { reason: e.message, inst: fresh[0] }));
    run.mark("restore");
  }
  const incoming = [...reuse, ...fresh];
  const enabled = failure ? { failure } : await enableAll(run, incoming);
  if (enabled.failure) return abandon(run, fresh, enabled.failure, stopped);
  run.mark("proxyUp");
  const switchedAtMs = m.fx.clock.now() - t0;
  return switchOver(run, { incoming, reuse, warmUntil, switchedAtMs });
}

/** The answers that change nothing: not this deploy's switch to undo, already serving, or cannot run here. */
async function refusedOrUnchanged(run: Run): Promise<ActivateResult | undefined> {
  const { m, p, spec, st } = run;
  if (p.revert && st.active !== p.revert.release) {
    // Not (or no longer) the release this deploy switched to: undoing would undo someone else's switch.
    return run.result({ ok: true, changed: false, reason: `nothing to undo: release ${st.active ?? "none"} serves here, not ${p.revert.release}` });
  }
  if (p.action === "restart") {
    // A restart renews what serves: another release active here means a deploy or rollback came in between.
    if (st.active !== p.release) return run.result({ ok: false, changed: false, reason: `release ${st.active ?? "none"} is active here, not ${p.release}: run the restart again` });
  } else if (st.active === p.release && (await allServing(run))) return run.result({ ok: true, changed: false });
  // Held stopped on purpose (skiff accessory stop): a deploy of the release it holds changes nothing; a new one does.
  else if (st.active === p.release && st.held && p.action === "deploy") return run.result({ ok: true, changed: false, reason: "held stopped (`skiff accessory start` starts it)" });
  if (run.count > 0 && spec.withheld) {
    const reason = `release ${p.release} is on this machine without its secrets and files (it was placed to run none of ${p.app} here); deploy or scale again to send them`;
    run.record({ result: "failed", reason });
    return run.result({ ok: false, changed: false, reason });
  }
  // A machine placed to run none of the app needs no image or artifact (only the release, for its peers' slots).
  if (run.count > 0 && !(await runtimeOf(m, spec).hasImage(spec.imageId))) {
    const reason = `image ${spec.image} (${spec.imageId.slice(7, 19)}) is not on this machine`;
    run.record({ result: "failed", reason });
    return run.result({ ok: false, changed: false, reason });
  }
  return undefined;
}

async function allServing({ m, st, backend, count }: Run): Promise<boolean> {
  if (st.instances.length !== count) return false;
  for (const i of st.instances) {
    if (!(await runtimeOf(m, i).status(i.name)).running) return false;
    if (m.proxy.slotOf(backend, i.name)?.state !== "ready") return false;
  }
  return true;
}

/** Warm instances of the target release (a rollback) are reused; the rest start (saved as pending, so an agent
 *  restart removes them) and all pass the health gate within one deadline. */
async function startAndGate(run: Run): Promise<{ reuse: InstanceRecord[]; fresh: InstanceRecord[]; failure?: Failure }> {
  const { m, p, spec, st, count } = run;
  const reuse: InstanceRecord[] = [];
  // A restart wants new instances: none of the release's warm ones (they are as old as those it replaces).
  for (const w of st.warm.filter((i) => i.release === p.release && p.action !== "restart")) if (reuse.length < count && (await runtimeOf(m, w).status(w.name)).running) reuse.push(w);
  const taken = usedPorts(m);
  const fresh: InstanceRecord[] = [];
  const deadlineAt = m.fx.clock.now() + spec.health.deadlineMs;
  try {
    // Side by side: a machine's instances of one release boot together (one at a time cost a boot each).
    const starts = Array.from({ length: Math.max(0, count - reuse.length) }, () =>
      startInstance(m, spec, p.machine, taken, p.bindAddress ?? BIND).then((inst) => {
        fresh.push(inst);
        st.pending.push(inst);
        m.store.saveState(st);
      }),
    );
    await allInOrder(starts);
    run.mark("start");
    // A warm instance the supervisor has seen pass `healthy_threshold` checks in a row, the last within one
    // interval, has passed the gate already; any other waits for its passes here.
    // A stable one probed on its slower schedule brings its run of passes: one more, now, completes it.
    const gated = (inst: InstanceRecord) =>
      reuse.includes(inst) && passedLately(m, inst, spec) ? Promise.resolve({ ok: true as const }) : waitHealthy(m, inst, spec, deadlineAt, reuse.includes(inst) ? passesCarried(m, inst, spec) : 0);
    const checks = await Promise.all([...reuse, ...fresh].map(async (inst) => ({ inst, r: await gated(inst) })));
    run.mark("health");
    const bad = checks.find((c) => !c.r.ok);
    if (bad && !bad.r.ok) return { reuse, fresh, failure: { reason: bad.r.reason, inst: bad.inst } };
  } catch (e) {
    return { reuse, fresh, failure: { reason: `could not start an instance: ${(e as Error).message}` } };
  }
  return { reuse, fresh };
}

/** Stops and removes instances already out of traffic, then forgets them (under the app's lock, like every
 *  change of its state). */
async function retire(m: Machine, project: string, app: string, insts: InstanceRecord[], stopTimeoutS: number): Promise<void> {
  try {
    await discard(m, insts, backendName(project, app), stopTimeoutS);
    await m.mutex.run(`${project}/${app}`, async () => {
      const st = m.store.state(project, app);
      st.retiring = (st.retiring ?? []).filter((r) => !insts.some((i) => i.name === r.name));
      m.store.saveState(st);
    });
  } catch (e) {
    m.log(`${app}: stopping old warm instances: ${(e as Error).message}`);
  }
}

/** The supervisor's run of at least `healthy_threshold` passes, none failing since: how long ago its last HTTP probe
 *  was (not the last look at its process: a stable instance is probed less often than looked at), and the record. */
function healthyRun(m: Pick<Machine, "health" | "fx">, inst: InstanceRecord, spec: ReleaseSpec): { ago: number; h: Health } | undefined {
  const h = m.health.get(inst.name);
  if (!h?.healthy || (h.passes ?? 0) < spec.health.healthyThreshold) return undefined;
  return { ago: m.fx.clock.now() - (h.probedAt ?? h.at), h };
}

/**
 * The passes a warm instance brings to the health gate: `healthy_threshold` − 1 when the supervisor has seen at
 * least `healthy_threshold` in a row, none failing since, and probed it on schedule (a stable instance every
 * STABLE_PROBE_MS, HAProxy checking it at the interval meanwhile; any other at the interval), so that one pass now
 * completes the run; else 0 (a full gate). With `healthy_threshold: 1` it is 0: one pass now, as for any instance.
 */
export function passesCarried(m: Pick<Machine, "health" | "fx">, inst: InstanceRecord, spec: ReleaseSpec): number {
  const run = healthyRun(m, inst, spec);
  const { intervalMs, timeoutMs, healthyThreshold } = spec.health;
  if (!run || run.h.busy) return 0;
  const every = isStable(run.h) ? Math.max(intervalMs, STABLE_PROBE_MS) : intervalMs;
  return run.ago <= every + intervalMs + timeoutMs ? healthyThreshold - 1 : 0;
}

/** `healthy_threshold` passes in a row by the supervisor, the last one fresh (within an interval and its timeout). */
export function passedLately(m: Pick<Machine, "health" | "fx">, inst: InstanceRecord, spec: ReleaseSpec): boolean {
  const run = healthyRun(m, inst, spec);
  return run !== undefined && run.ago <= spec.health.intervalMs + spec.health.timeoutMs;
}

/** Runs a few slot changes made with `defer` and writes the proxy state once, after them (ProxyController.flush),
 *  not once each; when one fails, what HAProxy was told before it is written all the same. An agent that dies
 *  before the write finds its proxy state as one of those single writes might have left it, which reconcile and
 *  sync() already handle. */
async function inOneProxyWrite<T>(m: Machine, changes: () => Promise<T>): Promise<T> {
  let r: T;
  try {
    r = await changes();
  } catch (e) {
    await m.proxy.flush().catch(() => {});
    throw e;
  }
  await m.proxy.flush();
  return r;
}

/** Puts every incoming instance into a primary slot; on a failure the ones already in go out again. */
async function enableAll({ m, backend }: Run, incoming: InstanceRecord[]): Promise<{ failure?: Failure }> {
  const enabled: InstanceRecord[] = [];
  try {
    // The switch has not been saved yet: an agent that dies before the write finds them pending, and reconcile
    // takes pending instances out.
    await inOneProxyWrite(m, async () => {
      for (const inst of incoming) {
        // Each passed the health gate just now (reused warm ones are probed by the supervisor): marked UP at once.
        inst.slot = await m.proxy.enable(backend, inst.name, addressOf(inst), inst.hostPort, { gated: true, defer: true });
        enabled.push(inst);
      }
    });
    return {};
  } catch (e) {
    await inOneProxyWrite(m, async () => {
      for (const inst of enabled) await m.proxy.release(backend, inst.name, "all", { defer: true }).catch(() => {});
    }).catch(() => {});
    return { failure: { reason: (e as Error).message, inst: incoming[enabled.length] } };
  }
}

/** Stop-first: the serving (and warm) instances leave HAProxy and stop, kept as they are so a failed start can
 *  bring them back. They stay in the state: an agent that dies meanwhile finds them stopped and starts them again. */
async function stopServing(run: Run): Promise<InstanceRecord[]> {
  const { m, spec, st, backend } = run;
  const old = [...st.instances, ...st.warm];
  await Promise.all(
    old.map(async (i) => {
      await m.proxy.release(backend, i.name).catch(() => {});
      await runtimeOf(m, i).stop(i.name, (m.store.release(run.p.project, run.p.app, i.release) ?? spec).stopTimeoutS);
    }),
  );
  run.mark("stopOld");
  return st.instances;
}

/** Stop-first undone: the old release's instances start again and take their slots back once healthy (or when
 *  HAProxy's own check passes, if they are slow). Says what it brought back, for the record. */
async function startAgain(run: Run, stopped: InstanceRecord[]): Promise<string> {
  const { m, p, backend } = run;
  const back: string[] = [];
  for (const o of stopped) {
    try {
      await runtimeOf(m, o).restart(o.name);
      const ospec = m.store.release(p.project, p.app, o.release) ?? run.spec;
      const gate = await waitHealthy(m, o, ospec, m.fx.clock.now() + ospec.health.deadlineMs);
      o.slot = await m.proxy.enable(backend, o.name, addressOf(o), o.hostPort, { gated: gate.ok });
      back.push(o.name);
    } catch (e) {
      m.log(`${p.app}: starting ${o.name} again: ${(e as Error).message}`);
    }
  }
  m.store.saveState(run.st);
  return back.length ? `; release ${run.st.active} started again` : stopped.length ? `; release ${run.st.active} could not be started again (the supervisor keeps trying)` : "";
}

/** Nothing switched: the started instances go, the old release keeps serving (stop-first: starts again), the
 *  failure is recorded. */
async function abandon(run: Run, fresh: InstanceRecord[], failure: Failure, stopped: InstanceRecord[] = []): Promise<ActivateResult> {
  const { m, p, spec, st } = run;
  const logs = failure.inst ? await runtimeOf(m, failure.inst).logs(failure.inst.name, 50).catch(() => "") : "";
  await discard(m, fresh, run.backend, spec.stopTimeoutS);
  st.pending = [];
  m.store.saveState(st);
  // Stop-first undone: what ran before runs again (one held stopped stays stopped).
  if (spec.stopFirst && !st.held) failure = { ...failure, reason: failure.reason + (await startAgain(run, stopped)) };
  run.record({ result: "failed", reason: failure.reason });
  m.log(`${p.app} release ${p.release}: failed: ${failure.reason}`);
  return run.result({ ok: false, changed: false, reason: failure.reason, failedInstance: failure.inst?.name, logs });
}

/** The new release serves. The old one moves to backup slots (traffic only if every new instance goes down), its
 *  primary slots drain, and it stays warm for the probation time. Anything that fails from here on fails after
 *  the switch: the result says so (changed), so the rollout returns this machine to its previous release instead
 *  of counting it as untouched. */
async function switchOver(run: Run, s: { incoming: InstanceRecord[]; reuse: InstanceRecord[]; warmUntil: string | null; switchedAtMs: number }): Promise<ActivateResult> {
  const { m, p, spec, st, backend } = run;
  try {
    const outgoing = st.instances;
    const staleWarm = st.warm.filter((w) => !s.reuse.includes(w));
    const outgoingSpec = st.active !== null ? m.store.release(p.project, p.app, st.active) : undefined;
    // Stop-first: the outgoing instances are stopped already; they are removed, never kept warm.
    const keep = !spec.stopFirst;
    delete st.held; // a new release runs, whatever held the old one
    Object.assign(st, { active: p.release, instances: s.incoming, pending: [], warm: keep ? outgoing : [], warmUntil: s.warmUntil, retiring: [...(st.retiring ?? []), ...staleWarm, ...(keep ? [] : outgoing)] });
    m.store.saveState(st);
    const now = m.fx.clock.now();
    for (const inst of s.incoming) m.health.set(inst.name, { ...newHealth("passed deploy check"), at: now, healthySince: now });
    // The switch's slot changes, written once at its end.
    const defer = { defer: true };
    await inOneProxyWrite(m, async () => {
      for (const inst of s.reuse) await m.proxy.release(backend, inst.name, "backup", defer);
      // Without instances of its own here, this machine's HAProxy sends the app's traffic to the other machines'.
      await m.proxy.peersActive(backend, s.incoming.length === 0, defer);
      // The stale warm instances leave HAProxy now (their backup slots go to the outgoing ones).
      for (const w of staleWarm) await m.proxy.release(backend, w.name, "all", defer).catch(() => {});
      for (const o of keep ? outgoing : []) {
        // Serving until now and healthy by the supervisor's last check: UP in its backup slot at once.
        const gated = m.health.get(o.name)?.healthy === true;
        await m.proxy.enable(backend, o.name, addressOf(o), o.hostPort, { backup: true, timeoutMs: 2000, gated, defer: true }).catch(() => m.proxy.release(backend, o.name, "backup", defer));
      }
    });
    run.mark("switch");
    // Out of traffic already, they stop after the activation answers: nothing waits on that (an agent restart
    // meanwhile finds them in `retiring`).
    if (staleWarm.length) void retire(m, p.project, p.app, staleWarm, spec.stopTimeoutS);
    if (!keep && outgoing.length) void retire(m, p.project, p.app, outgoing, spec.stopTimeoutS);
    await Promise.all((keep ? outgoing : []).map((o) => m.proxy.drainAndRemove(backend, o.name, (outgoingSpec ?? spec).drainMs)));
    run.mark("drain");
    if (p.revert) {
      m.store.appendHistory({ at: isoAt(m), machine: p.machine, project: p.project, app: p.app, release: p.revert.release, action: "deploy", result: "rolled back", reason: p.revert.reason, deployId: p.deployId, by: p.by });
    }
    run.record({ result: "ok" });
  } catch (e) {
    const reason = `release ${p.release} took traffic, then failed: ${(e as Error).message}`;
    m.log(`${p.app} release ${p.release}: ${reason}`);
    try {
      run.record({ result: "failed", reason });
    } catch {}
    return run.result({ ok: false, changed: true, reason, switchedAtMs: s.switchedAtMs });
  }
  // Pruning old releases is housekeeping: its failure must not undo a good switch.
  await prune(m, p.project, p.app, st, spec.keepReleases).catch((e: Error) => m.log(`${p.app}: pruning old releases failed: ${e.message}`));
  m.log(`${p.app} release ${p.release}: active (${s.incoming.length} instance(s))`);
  return run.result({ ok: true, changed: true, switchedAtMs: s.switchedAtMs });
}
