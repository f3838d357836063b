// After the deploy: each serving instance due a check is looked at (running?
// healthy?), the restart policy decides, and a restart is carried out: out of
// traffic, wait the backoff, start again, gate on health, back in. Warm
// instances whose probation is over are stopped here too. A pass reads the
// apps' state from memory (state-cache.ts) and then sleeps until the next check
// is due, as the pass itself found it (at most MAX_SLEEP_MS); a state written
// meanwhile (a deploy, a hold) wakes it within a tick (Store.onChange), and an
// app locked by a change under way is looked at again a second later.
// Checks due within one tick of each other are done in the same pass (a little
// early, never late), together, so the instances' checks fall into step. An
// instance's exit is an event where the runtime sees one (`watchExits`): it is
// looked at at once, and a stable instance whose exit would be reported so
// (`exitsWatched`) is not looked at between its probes (every STABLE_PROBE_MS):
// an idle agent with stable instances wakes every few seconds, not every
// interval.
import type { InstanceRecord } from "../contracts/model.ts";
import { backendName } from "../proxy/model.ts";
import { isoAt, runtimeOf, type Machine } from "./effects.ts";
import { newHealth, type Health } from "./health-book.ts";
import { waitHealthy } from "./health-gate.ts";
import { machineName } from "./identity.ts";
import { addressOf, discard } from "./instances.ts";
import { afterCheck, afterExit, afterLook, afterRestart, isDue, nextCheckAt, probeDue, type Decision } from "./restart-policy.ts";
import { StateCache } from "./state-cache.ts";

type Restart = Extract<Decision, { kind: "restart" }>;

/** The longest sleep between passes (a state written meanwhile wakes it sooner). */
export const MAX_SLEEP_MS = 5000;

export class Supervisor {
  private timer?: NodeJS.Timeout;
  private running = false;
  private stopped = true;
  /** A pass was asked for while one ran: another follows at once. */
  private again = false;
  private tickMs = 250;
  /** How early a check may be done to share a pass with another (0 for a caller driving `once` itself). */
  private slackMs = 0;
  /** Instances whose exit was reported: looked at in the next pass, whatever their interval. */
  private readonly poked = new Set<string>();
  private maintainedAt = 0;
  /** The runtimes' upkeep under way (log rotation), at most one at a time. */
  private maintaining?: Promise<void>;
  /** When the last pass found the next check due (absolute, by the clock); unknown after a failed pass. */
  private nextDue?: number;
  /** Something was written while a pass ran: the next pass comes a tick later at most. */
  private stale = false;
  /** When the pending timer fires (by performance.now(), which no clock step moves). */
  private timerAt = Infinity;
  /** Timed passes so far (tests count them). */
  passes = 0;
  /** Restarts under way (a test waits for them; the agent does not). */
  readonly inFlight = new Set<Promise<void>>();
  readonly cache: StateCache;

  constructor(private readonly m: Machine) {
    this.cache = new StateCache(m.store);
    m.store.onChange?.(() => {
      this.stale = true;
      if (!this.running) this.soon(this.tickMs);
    });
  }

  /** Passes from now on, each scheduled for when the next check is due (`tickMs` apart at least). */
  start(tickMs = 250): void {
    this.tickMs = this.slackMs = tickMs;
    this.stopped = false;
    this.schedule(tickMs);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** An instance's process ended: look at it now (a restart under way for it is left alone). */
  poke(name: string): void {
    this.poked.add(name);
    if (this.running) this.again = true; // the pass under way may have looked at it already: one more after it
    else if (!this.stopped) this.schedule(0);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timerAt = performance.now() + ms;
    this.timer = setTimeout(() => ((this.timerAt = Infinity), this.pass()), ms);
    this.timer.unref();
  }

  /** A pass within `ms`: the pending one if it comes sooner. */
  private soon(ms: number): void {
    if (this.timerAt > performance.now() + ms) this.schedule(ms);
  }

  private pass(): void {
    if (this.running) return void (this.again = true); // a slow pass (a slow Docker API) is not overlapped
    this.running = true;
    this.passes++;
    this.stale = false;
    this.nextDue = undefined;
    this.once()
      // A state that cannot be read: the next pass, a tick later, says it again.
      .catch((e: Error) => this.m.log(`supervisor: ${e.message}`))
      .finally(() => {
        this.running = false;
        const again = this.again;
        this.again = false;
        // Until the earliest check due, between one tick and MAX_SLEEP_MS.
        const ms = this.nextDue === undefined || this.stale ? this.tickMs : Math.min(MAX_SLEEP_MS, Math.max(this.tickMs, this.nextDue - this.slackMs - this.m.fx.clock.now()));
        this.schedule(again ? 0 : ms);
      });
  }

  /** When an instance's next check is due (never, by the clock, while it restarts). */
  private dueAt(inst: InstanceRecord, intervalMs: number): number {
    const h = this.m.health.get(inst.name);
    if (!h || this.poked.has(inst.name)) return 0;
    return nextCheckAt(h, intervalMs, this.watched(inst));
  }

  private watched(inst: InstanceRecord): boolean {
    try {
      return runtimeOf(this.m, inst).exitsWatched?.(inst.name) ?? false;
    } catch {
      return false; // no such runtime here: its check says so
    }
  }

  /** Resolves when every restart under way has finished. */
  async idle(): Promise<void> {
    while (this.inFlight.size) await Promise.all([...this.inFlight]);
  }

  /** One pass: each instance due a check is checked; on the way, when the next check falls due (for the pass's
   *  caller to sleep until: one walk over the apps, not a second one to find that). */
  async once(): Promise<void> {
    const { m } = this;
    const now = m.fx.clock.now();
    const poked = new Set(this.poked);
    this.poked.clear();
    let next = now + MAX_SLEEP_MS;
    if (now - this.maintainedAt > 10_000 && !this.maintaining) {
      this.maintainedAt = now;
      // Beside the checks, not before them: a flooded log's copy (hundreds of MB) must not hold this pass.
      this.maintaining = (async () => {
        for (const r of Object.values(m.runtimes)) await r.maintain?.().catch((e: Error) => m.log(`maintain: ${e.message}`));
      })().finally(() => (this.maintaining = undefined));
    }
    // Done in a pass that happens anyway (checks every few seconds); a pass of its own only after 30 s without one.
    if (Object.values(m.runtimes).some((r) => r.maintain)) next = Math.min(next, this.maintainedAt + 30_000);
    // The checks of this pass run together (their probes wait on the network, not on each other).
    const checks: Promise<void>[] = [];
    for (const { project, app, state: st } of this.cache.apps()) {
      if (st.active === null || st.held) continue;
      if (m.mutex.isLocked(`${project}/${app}`)) {
        next = Math.min(next, now + 1000); // a change under way (a deploy, a restart's gate): looked at again in a second
        continue;
      }
      const spec = this.cache.release(project, app, st.active);
      if (!spec) continue;
      let warm = st.warm;
      if (warm.length && st.warmUntil) {
        if (m.fx.clock.now() > Date.parse(st.warmUntil)) {
          await this.endProbation(project, app, spec.stopTimeoutS);
          warm = []; // stopped (or, were the state changed meanwhile, seen by the next pass)
        } else next = Math.min(next, Date.parse(st.warmUntil) + 1);
      }
      // When the next check falls due: from each record as its check (if any) leaves it.
      const watch = (inst: InstanceRecord, intervalMs: number, check: () => Promise<void>) => {
        const upd = () => void (next = Math.min(next, this.dueAt(inst, intervalMs)));
        if (this.due(inst, intervalMs, poked)) checks.push(check().finally(upd));
        else upd();
      };
      for (const inst of st.instances) watch(inst, spec.health.intervalMs, () => this.check(project, app, inst, st.instances, spec.health, poked));
      for (const inst of warm) {
        const hs = this.cache.release(project, app, inst.release)?.health ?? spec.health;
        watch(inst, hs.intervalMs, () => this.checkWarm(inst, hs, poked));
      }
    }
    const failed = (await Promise.allSettled(checks)).find((r): r is PromiseRejectedResult => r.status === "rejected");
    this.nextDue = next;
    if (failed) throw failed.reason;
  }

  /** Whether an instance is due a check (one the book does not know yet is, at once; one whose exit was reported
   *  too, unless it is restarting): by the clock up to `slackMs` early, so checks close together share a pass. */
  private due(inst: InstanceRecord, intervalMs: number, poked: ReadonlySet<string>): boolean {
    const h = this.m.health.get(inst.name);
    return !h || (poked.has(inst.name) && !h.busy) || isDue(h, this.m.fx.clock.now() + this.slackMs, intervalMs, this.watched(inst));
  }

  /** The outgoing release's warm instances stop once its probation is over. */
  private endProbation(project: string, app: string, stopTimeoutS: number): Promise<void> {
    const { m } = this;
    return m.mutex.run(`${project}/${app}`, async () => {
      const now = m.store.state(project, app);
      if (!now.warmUntil || m.fx.clock.now() <= Date.parse(now.warmUntil)) return;
      await discard(m, now.warm, backendName(project, app), stopTimeoutS);
      now.warm = [];
      now.warmUntil = undefined;
      m.store.saveState(now);
    });
  }

  private async check(project: string, app: string, inst: InstanceRecord, all: readonly InstanceRecord[], hs: { path?: string; intervalMs: number; timeoutMs: number }, poked: ReadonlySet<string>): Promise<void> {
    const { m } = this;
    if (!this.due(inst, hs.intervalMs, poked)) return;
    const h = m.health.get(inst.name) ?? newHealth("not checked yet");
    m.health.set(inst.name, h);
    h.at = m.fx.clock.now();
    const s = await runtimeOf(m, inst).status(inst.name);
    if (s.running && !probeDue(h, h.at + this.slackMs, hs.intervalMs)) return void Object.assign(h, afterLook(h, h.at));
    if (s.running) h.probedAt = h.at;
    const judged = s.running
      ? afterCheck(h, await m.fx.probe(addressOf(inst), inst.hostPort, hs.path, hs.timeoutMs), m.fx.clock.now(), { path: hs.path, othersRestarting: all.some((i) => i.name !== inst.name && m.health.get(i.name)?.busy) })
      : afterExit(h, s);
    Object.assign(h, judged.patch);
    if (judged.decision.kind === "restart") this.track(this.restart(project, app, inst.name, h, judged.decision));
  }

  /** A warm instance (out of traffic, kept for an instant rollback) is checked too, never restarted: a rollback
   *  that finds `healthy_threshold` fresh passes in a row reuses it without waiting for them again. */
  private async checkWarm(inst: InstanceRecord, hs: { path?: string; intervalMs: number; timeoutMs: number }, poked: ReadonlySet<string>): Promise<void> {
    const { m } = this;
    if (!this.due(inst, hs.intervalMs, poked)) return;
    const h = m.health.get(inst.name) ?? { ...newHealth("warm, not checked yet"), healthy: false };
    m.health.set(inst.name, h);
    h.at = m.fx.clock.now();
    const running = (await runtimeOf(m, inst).status(inst.name)).running;
    const r = running ? await m.fx.probe(addressOf(inst), inst.hostPort, hs.path, hs.timeoutMs) : { ok: false, detail: "not running" };
    Object.assign(h, { healthy: r.ok, detail: r.detail, passes: r.ok ? (h.passes ?? 0) + 1 : 0, at: m.fx.clock.now(), probedAt: m.fx.clock.now() });
  }

  private track(p: Promise<void>): void {
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  /** Out of traffic, wait (backoff), start again, gate on health, back into traffic. */
  private async restart(project: string, app: string, name: string, h: Health, d: Restart): Promise<void> {
    const { m } = this;
    const key = `${project}/${app}`;
    try {
      await m.mutex.run(key, async () => {
        const st = m.store.state(project, app);
        const inst = st.instances.find((i) => i.name === name);
        if (!inst) return;
        await m.proxy.disable(backendName(project, app), name);
        inst.restarts++;
        inst.lastExit = { code: d.code, oomKilled: d.oomKilled, at: isoAt(m), reason: d.reason };
        m.store.saveState(st);
        m.store.appendHistory({ at: isoAt(m), machine: machineName(m.store), project, app, release: inst.release, action: "restart", result: "ok", reason: `${name} ${d.reason}; restarting in ${d.delayMs / 1000}s (restart ${inst.restarts})` });
        m.log(`${name}: ${d.reason}; restarting in ${d.delayMs} ms`);
      });
      await m.fx.clock.sleep(d.delayMs);
      await m.mutex.run(key, () => this.startAgain(project, app, name, h));
    } catch (e) {
      m.log(`${name}: restart failed: ${(e as Error).message}`);
    } finally {
      h.busy = false;
      h.at = m.fx.clock.now();
    }
  }

  private async startAgain(project: string, app: string, name: string, h: Health): Promise<void> {
    const { m } = this;
    const st = m.store.state(project, app);
    const inst = st.instances.find((i) => i.name === name);
    const spec = st.active !== null ? m.store.release(project, app, st.active) : undefined;
    // Held stopped (skiff accessory stop, a restore) while this restart waited out its backoff: it stays stopped.
    if (!inst || !spec || st.held) return;
    const s = await runtimeOf(m, inst).status(name);
    if (s.running) await runtimeOf(m, inst).stop(name, spec.stopTimeoutS);
    if (!s.exists) {
      m.log(`${name}: container is gone; the next deploy or rollback replaces it`);
      return;
    }
    await runtimeOf(m, inst).restart(name);
    const ok = await waitHealthy(m, inst, spec, m.fx.clock.now() + spec.health.deadlineMs);
    if (!ok.ok) return void Object.assign(h, afterRestart(false, ok.reason, m.fx.clock.now()));
    await m.proxy.enable(backendName(project, app), name, addressOf(inst), inst.hostPort, { gated: true });
    Object.assign(h, afterRestart(true, "healthy after restart", m.fx.clock.now()));
  }
}
