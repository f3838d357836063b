// The agent's work on its machine: start instances, gate them on health,
// switch HAProxy start-first, drain and stop the old, keep checking afterwards.
import { randomBytes } from "node:crypto";
import { backendName } from "../proxy/model.ts";
import type { Runtime, RuntimeKind } from "../runtime/types.ts";
import { rmSync } from "node:fs";
import { filesDir, materializeFiles } from "./files.ts";
import { portFree } from "../lib/ports.ts";
import { httpCheck } from "./health.ts";
import { localCount, type AppState, type HistoryEntry, type InstanceRecord, type ReleaseSpec } from "../contracts/model.ts";
import { KeyedMutex } from "./mutex.ts";
import type { ActivateParams, ActivateResult } from "../contracts/activate.ts";

export type { ActivateParams, ActivateResult };
import type { ProxyController } from "./proxy.ts";
import type { Store } from "./store.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const BIND = "127.0.0.1";
/** Where an instance's port is published (instances from before bind addresses existed used loopback). */
const addressOf = (i: InstanceRecord) => i.bindAddress ?? BIND;
const PORTS = { from: 20000, to: 29999 };
/** A running instance is restarted only after failing checks this long (HAProxy routes around it meanwhile). */
const UNHEALTHY_RESTART_MS = 10_000;
const FAILS_BEFORE_RESTART = 3;

/** An ISO time `ms` from now, held within the dates JavaScript can write (a huge probation means "for good"). */
export function isoAfter(ms: number, now = Date.now()): string {
  const MAX = 8.64e15;
  const t = Number.isFinite(ms) ? Math.min(now + Math.max(0, ms), MAX) : MAX;
  return new Date(t).toISOString();
}

const newHealth = (detail: string): Health => ({ healthy: true, detail, at: 0, fails: 0, busy: false, consecutiveRestarts: 0 });

interface Health {
  healthy: boolean;
  detail: string;
  at: number;
  fails: number;
  /** When the current run of failed checks began. */
  failingSince?: number;
  busy: boolean;
  healthySince?: number;
  consecutiveRestarts: number;
}

export class AgentCore {
  readonly mutex = new KeyedMutex();
  readonly health = new Map<string, Health>();
  private timer?: NodeJS.Timeout;
  private supervising = false;

  constructor(
    readonly store: Store,
    readonly runtimes: Partial<Record<RuntimeKind, Runtime>>,
    readonly proxy: ProxyController,
    private readonly log: (s: string) => void = () => {},
  ) {}

  // ---- instances ----

  /** The runtime that runs a release's (or an instance's) instances. */
  rt(x: { runtime?: RuntimeKind }): Runtime {
    const kind = x.runtime ?? "docker";
    const r = this.runtimes[kind];
    if (!r) throw new Error(`the ${kind} runtime is not available on this machine`);
    return r;
  }

  private usedPorts(): Set<number> {
    const used = new Set<number>();
    for (const { project, app } of this.store.apps()) {
      const st = this.store.state(project, app);
      for (const i of [...st.instances, ...st.warm, ...st.pending]) used.add(i.hostPort);
    }
    return used;
  }

  private async allocatePort(taken: Set<number>, address: string): Promise<number> {
    for (let i = 0; i < 200; i++) {
      const port = PORTS.from + Math.floor(Math.random() * (PORTS.to - PORTS.from));
      if (!taken.has(port) && (await portFree(port, address))) {
        taken.add(port);
        return port;
      }
    }
    throw new Error("no free host port for a new instance");
  }

  private async startInstance(spec: ReleaseSpec, machine: string, taken: Set<number>, bindAddress: string): Promise<InstanceRecord> {
    const name = `skiff-${spec.project}-${spec.app}-${spec.release}-${randomBytes(3).toString("hex")}`;
    const hostPort = await this.allocatePort(taken, bindAddress);
    await this.rt(spec).start({
      name,
      image: spec.imageId,
      command: spec.command,
      user: spec.user,
      limits: spec.limits,
      files: materializeFiles(this.store.dir, spec),
      volumes: spec.volumes,
      containerPort: spec.port,
      hostPort,
      bindAddress,
      env: { ...spec.env, ...spec.secrets, SKIFF_APP: spec.app, SKIFF_RELEASE: String(spec.release), SKIFF_MACHINE: machine, SKIFF_INSTANCE: name },
      labels: { "skiff.managed": "1", "skiff.project": spec.project, "skiff.app": spec.app, "skiff.release": String(spec.release) },
    });
    return { name, release: spec.release, runtime: spec.runtime, bindAddress, hostPort, startedAt: new Date().toISOString(), restarts: 0 };
  }

  /** Waits for `healthy_threshold` passing checks in a row, or fails on exit or at the deadline. */
  async waitHealthy(inst: InstanceRecord, spec: ReleaseSpec, deadlineAt: number): Promise<{ ok: true } | { ok: false; reason: string }> {
    const h = spec.health;
    let passes = 0;
    let last = "no check yet";
    for (;;) {
      const st = await this.rt(inst).status(inst.name);
      if (!st.running) {
        const oom = st.oomKilled ? ", killed for using too much memory" : "";
        return { ok: false, reason: `instance ${inst.name} exited with code ${st.exitCode ?? "?"}${oom} before becoming healthy` };
      }
      const r = await httpCheck(addressOf(inst), inst.hostPort, h.path, h.timeoutMs);
      if (r.ok) {
        if (++passes >= h.healthyThreshold) return { ok: true };
      } else {
        passes = 0;
        last = r.detail;
      }
      if (Date.now() + h.intervalMs > deadlineAt) {
        return { ok: false, reason: `instance ${inst.name} was not healthy within the ${Math.round(h.deadlineMs / 1000)}s deadline (last check of ${h.path}: ${last})` };
      }
      await sleep(h.intervalMs);
    }
  }

  private async discard(insts: InstanceRecord[], backend: string, stopTimeoutS: number): Promise<void> {
    await Promise.all(
      insts.map(async (i) => {
        await this.proxy.release(backend, i.name).catch(() => {});
        await this.rt(i).stop(i.name, stopTimeoutS).catch(() => {});
        await this.rt(i).remove(i.name).catch(() => {});
        this.health.delete(i.name);
      }),
    );
  }

  // ---- activation ----

  activate(p: ActivateParams): Promise<ActivateResult> {
    return this.mutex.run(`${p.project}/${p.app}`, async () => {
      this.fence(p.project, p.holder, Boolean(p.revert));
      return this.activateLocked(p);
    });
  }

  /** A deploy that lost its lock (broken with --force, or called stale while its CLI stalled) must not change
   *  this machine any more: another deploy may be running. Checked under the app mutex, so a deploy that takes
   *  the lock next waits for a change already under way, and the stale one's next change is refused. A revert
   *  (undoing only its own switch, see activateLocked) may also run while nobody holds the lock: after a
   *  `lock release --force` no one else is deploying, and refusing would leave the project on mixed releases.
   *  A call without a holder (`skiff demo --down`, an older CLI) is served only while no deploy holds the lock. */
  private fence(project: string, holder: string | undefined, revert = false): void {
    const held = this.store.lockInfo(project);
    if (holder === undefined) {
      if (held) throw new Error(`the deploy lock of project ${project} on this machine is held by ${held.holder}, and this call names no lock holder (a skiff CLI older than this agent? update it)`);
      return;
    }
    if (held?.holder === holder || (revert && !held)) return;
    throw new Error(`the deploy lock of project ${project} on this machine is ${held ? `held by ${held.holder}` : "not held by anyone"}, not by this deploy`);
  }

  private async activateLocked(p: ActivateParams): Promise<ActivateResult> {
    const t0 = Date.now();
    const spec = this.store.release(p.project, p.app, p.release);
    if (!spec) throw new Error(`release ${p.release} of ${p.app} is not on this machine`);
    const st = this.store.state(p.project, p.app);
    const backend = backendName(p.project, p.app);
    const result = (r: Omit<ActivateResult, "durationMs" | "machine" | "release">): ActivateResult => ({ ...r, release: p.release, machine: p.machine, durationMs: Date.now() - t0 });
    if (p.revert && st.active !== p.revert.release) {
      // Not (or no longer) the release this deploy switched to: undoing would undo someone else's switch.
      return result({ ok: true, changed: false, reason: `nothing to undo: release ${st.active ?? "none"} serves here, not ${p.revert.release}` });
    }
    const record = (e: Partial<HistoryEntry> & Pick<HistoryEntry, "result">) =>
      this.store.appendHistory({ at: new Date().toISOString(), machine: p.machine, project: p.project, app: p.app, release: p.release, action: p.action, deployId: p.deployId, by: p.by, durationMs: Date.now() - t0, image: spec.image, imageId: spec.imageId, commit: spec.git?.commit, ...e });

    const count = localCount(spec, p.machine);
    if (st.active === p.release && (await this.allServing(st, backend, count))) {
      return result({ ok: true, changed: false });
    }
    if (count > 0 && spec.withheld) {
      const reason = `release ${p.release} is on this machine without its secrets and files (it was placed to run none of ${p.app} here); deploy or scale again to send them`;
      record({ result: "failed", reason });
      return result({ ok: false, changed: false, reason });
    }
    // What could throw is computed before the switch, never after it.
    const warmUntil = p.keepWarm ? null : isoAfter(spec.probationMs);
    if (!(await this.rt(spec).hasImage(spec.imageId))) {
      const reason = `image ${spec.image} (${spec.imageId.slice(7, 19)}) is not on this machine`;
      record({ result: "failed", reason });
      return result({ ok: false, changed: false, reason });
    }
    await this.proxy.ensureRunning();
    await this.proxy.ensureBackend(backend, { routes: spec.routes, healthPath: spec.health.path, intervalMs: spec.health.intervalMs, timeoutMs: spec.health.timeoutMs, freeSlots: count, httpPort: p.httpPort });

    // Warm instances of the target release (a rollback) take traffic again without a start.
    const reuse: InstanceRecord[] = [];
    for (const w of st.warm.filter((i) => i.release === p.release)) if (reuse.length < count && (await this.rt(w).status(w.name)).running) reuse.push(w);
    const taken = this.usedPorts();
    const fresh: InstanceRecord[] = [];
    const deadlineAt = Date.now() + spec.health.deadlineMs;
    let failure: { reason: string; inst?: InstanceRecord } | undefined;
    try {
      for (let i = reuse.length; i < count; i++) {
        const inst = await this.startInstance(spec, p.machine, taken, p.bindAddress ?? BIND);
        fresh.push(inst);
        st.pending.push(inst);
        this.store.saveState(st);
      }
      const checks = await Promise.all([...reuse, ...fresh].map(async (inst) => ({ inst, r: await this.waitHealthy(inst, spec, deadlineAt) })));
      const bad = checks.find((c) => !c.r.ok);
      if (bad && !bad.r.ok) failure = { reason: bad.r.reason, inst: bad.inst };
    } catch (e) {
      failure = { reason: `could not start an instance: ${(e as Error).message}` };
    }

    const incoming = [...reuse, ...fresh];
    let switchedAtMs: number | undefined;
    if (!failure) {
      const enabled: InstanceRecord[] = [];
      try {
        for (const inst of incoming) {
          inst.slot = await this.proxy.enable(backend, inst.name, addressOf(inst), inst.hostPort);
          enabled.push(inst);
        }
        switchedAtMs = Date.now() - t0;
      } catch (e) {
        failure = { reason: (e as Error).message, inst: incoming[enabled.length] };
        for (const inst of enabled) await this.proxy.release(backend, inst.name).catch(() => {});
      }
    }

    if (failure) {
      const logs = failure.inst ? await this.rt(failure.inst).logs(failure.inst.name, 50).catch(() => "") : "";
      await this.discard(fresh, backend, spec.stopTimeoutS);
      st.pending = [];
      this.store.saveState(st);
      record({ result: "failed", reason: failure.reason });
      this.log(`${p.app} release ${p.release}: failed: ${failure.reason}`);
      return result({ ok: false, changed: false, reason: failure.reason, failedInstance: failure.inst?.name, logs });
    }

    // The new release serves. The old one moves to backup slots (traffic only if every new
    // instance goes down), its primary slots drain, and it stays warm for the probation time.
    // Anything that fails from here on fails after the switch: the result says so (changed), so the
    // rollout returns this machine to its previous release instead of counting it as untouched.
    try {
      const outgoing = st.instances;
      const staleWarm = st.warm.filter((w) => !reuse.includes(w));
      const outgoingSpec = st.active !== null ? this.store.release(p.project, p.app, st.active) : undefined;
      st.active = p.release;
      st.instances = incoming;
      st.pending = [];
      st.warm = outgoing;
      st.warmUntil = warmUntil;
      this.store.saveState(st);
      for (const inst of incoming) this.health.set(inst.name, { ...newHealth("passed deploy check"), at: Date.now(), healthySince: Date.now() });
      for (const inst of reuse) await this.proxy.release(backend, inst.name, "backup");
      // Without instances of its own here, this machine's HAProxy sends the app's traffic to the other machines'.
      await this.proxy.peersActive(backend, incoming.length === 0);
      await this.discard(staleWarm, backend, spec.stopTimeoutS);
      for (const o of outgoing) {
        await this.proxy.enable(backend, o.name, addressOf(o), o.hostPort, { backup: true, timeoutMs: 2000 }).catch(() => this.proxy.release(backend, o.name, "backup"));
      }
      await Promise.all(outgoing.map((o) => this.proxy.drainAndRemove(backend, o.name, (outgoingSpec ?? spec).drainMs)));

      if (p.revert) {
        this.store.appendHistory({ at: new Date().toISOString(), machine: p.machine, project: p.project, app: p.app, release: p.revert.release, action: "deploy", result: "rolled back", reason: p.revert.reason, deployId: p.deployId, by: p.by });
      }
      record({ result: "ok" });
    } catch (e) {
      const reason = `release ${p.release} took traffic, then failed: ${(e as Error).message}`;
      this.log(`${p.app} release ${p.release}: ${reason}`);
      try {
        record({ result: "failed", reason });
      } catch {}
      return result({ ok: false, changed: true, reason, switchedAtMs });
    }
    // Pruning old releases is housekeeping: its failure must not undo a good switch.
    await this.prune(p.project, p.app, st, spec.keepReleases).catch((e: Error) => this.log(`${p.app}: pruning old releases failed: ${e.message}`));
    this.log(`${p.app} release ${p.release}: active (${incoming.length} instance(s))`);
    return result({ ok: true, changed: true, switchedAtMs });
  }

  private async allServing(st: AppState, backend: string, count: number): Promise<boolean> {
    if (st.instances.length !== count) return false;
    for (const i of st.instances) {
      if (!(await this.rt(i).status(i.name)).running) return false;
      if (this.proxy.slotOf(backend, i.name)?.state !== "ready") return false;
    }
    return true;
  }

  /** Keeps the newest releases (and their images); older ones go. */
  private async prune(project: string, app: string, st: AppState, keep: number): Promise<void> {
    const inUse = [st.active, ...st.warm.map((w) => w.release)].filter((n): n is number => n !== null);
    const dropped = this.store.pruneReleases(project, app, keep, inUse);
    const keptImages = new Set(this.store.releases(project, app).map((n) => this.store.release(project, app, n)?.imageId));
    for (const s of dropped) {
      rmSync(filesDir(this.store.dir, project, app, s.release), { recursive: true, force: true });
      await this.rt(s).dropRelease?.(project, app, s.release).catch(() => {});
      if (!keptImages.has(s.imageId)) await this.rt(s).removeImage?.(s.imageId).catch(() => {});
    }
  }

  // ---- after the deploy: health checks and restarts ----

  startSupervisor(tickMs = 250): void {
    this.timer = setInterval(() => {
      if (this.supervising) return; // a slow pass (a slow Docker API) must not overlap the next
      this.supervising = true;
      this.superviseOnce()
        .catch((e: Error) => this.log(`supervisor: ${e.message}`))
        .finally(() => (this.supervising = false));
    }, tickMs);
    this.timer.unref();
  }

  stopSupervisor(): void {
    if (this.timer) clearInterval(this.timer);
  }

  private maintainedAt = 0;

  async superviseOnce(): Promise<void> {
    if (Date.now() - this.maintainedAt > 10_000) {
      this.maintainedAt = Date.now();
      for (const r of Object.values(this.runtimes)) await r.maintain?.().catch((e: Error) => this.log(`maintain: ${e.message}`));
    }
    for (const { project, app } of this.store.apps()) {
      const key = `${project}/${app}`;
      if (this.mutex.isLocked(key)) continue;
      const st = this.store.state(project, app);
      if (st.active === null) continue;
      const spec = this.store.release(project, app, st.active);
      if (!spec) continue;
      if (st.warm.length && st.warmUntil && Date.now() > Date.parse(st.warmUntil)) {
        await this.mutex.run(key, async () => {
          const now = this.store.state(project, app);
          if (!now.warmUntil || Date.now() <= Date.parse(now.warmUntil)) return;
          await this.discard(now.warm, backendName(project, app), spec.stopTimeoutS);
          now.warm = [];
          now.warmUntil = undefined;
          this.store.saveState(now);
        });
      }
      for (const inst of st.instances) {
        const h = this.health.get(inst.name) ?? newHealth("not checked yet");
        this.health.set(inst.name, h);
        if (h.busy || Date.now() - h.at < spec.health.intervalMs) continue;
        h.at = Date.now();
        const s = await this.rt(inst).status(inst.name);
        if (!s.running) {
          const reason = s.exists ? `exited with code ${s.exitCode ?? "?"}${s.oomKilled ? " (out of memory)" : ""}` : "instance is gone";
          void this.restart(project, app, inst.name, reason, s.exitCode, s.oomKilled);
          continue;
        }
        const r = await httpCheck(addressOf(inst), inst.hostPort, spec.health.path, spec.health.timeoutMs);
        if (r.ok) {
          if (!h.healthy) h.healthySince = Date.now();
          Object.assign(h, { healthy: true, detail: r.detail, fails: 0, failingSince: undefined });
          if (h.healthySince && Date.now() - h.healthySince > 60_000) h.consecutiveRestarts = 0;
        } else {
          h.fails++;
          h.failingSince ??= Date.now();
          Object.assign(h, { healthy: false, detail: r.detail });
          // A slow or stuck instance is restarted only after a while, and one at a time per app:
          // restarting several at once under load would take the whole app out of traffic.
          const restarting = st.instances.some((i) => i.name !== inst.name && this.health.get(i.name)?.busy);
          if (h.fails >= FAILS_BEFORE_RESTART && Date.now() - h.failingSince >= UNHEALTHY_RESTART_MS && !restarting) {
            void this.restart(project, app, inst.name, `unhealthy: ${spec.health.path} answered ${r.detail}, failing for ${Math.round((Date.now() - h.failingSince) / 1000)}s`, null, false);
          }
        }
      }
    }
  }

  /** Out of traffic, wait (backoff), start again, gate on health, back into traffic. */
  private async restart(project: string, app: string, name: string, reason: string, code: number | null, oomKilled: boolean): Promise<void> {
    const h = this.health.get(name)!;
    h.busy = true;
    h.healthy = false;
    h.detail = reason;
    const backend = backendName(project, app);
    try {
      const delay = Math.min(30_000, 1000 * 2 ** h.consecutiveRestarts);
      h.consecutiveRestarts++;
      await this.mutex.run(`${project}/${app}`, async () => {
        const st = this.store.state(project, app);
        const inst = st.instances.find((i) => i.name === name);
        if (!inst) return;
        await this.proxy.disable(backend, name);
        inst.restarts++;
        inst.lastExit = { code, oomKilled, at: new Date().toISOString(), reason };
        this.store.saveState(st);
        this.store.appendHistory({ at: new Date().toISOString(), machine: this.machineName(), project, app, release: inst.release, action: "restart", result: "ok", reason: `${name} ${reason}; restarting in ${delay / 1000}s (restart ${inst.restarts})` });
        this.log(`${name}: ${reason}; restarting in ${delay} ms`);
      });
      await sleep(delay);
      await this.mutex.run(`${project}/${app}`, async () => {
        const st = this.store.state(project, app);
        const inst = st.instances.find((i) => i.name === name);
        const spec = st.active !== null ? this.store.release(project, app, st.active) : undefined;
        if (!inst || !spec) return;
        const s = await this.rt(inst).status(name);
        if (s.running) await this.rt(inst).stop(name, spec.stopTimeoutS);
        if (!s.exists) {
          this.log(`${name}: container is gone; the next deploy or rollback replaces it`);
          return;
        }
        await this.rt(inst).restart(name);
        const ok = await this.waitHealthy(inst, spec, Date.now() + spec.health.deadlineMs);
        if (!ok.ok) {
          h.detail = ok.reason;
          return;
        }
        await this.proxy.enable(backend, name, addressOf(inst), inst.hostPort);
        Object.assign(h, { healthy: true, detail: "healthy after restart", fails: 0, failingSince: undefined, healthySince: Date.now() });
      });
    } catch (e) {
      this.log(`${name}: restart failed: ${(e as Error).message}`);
    } finally {
      h.busy = false;
      h.at = Date.now();
    }
  }

  private machineName(): string {
    return this.store.readJson<{ machine: string }>(`${this.store.dir}/machine.json`)?.machine ?? "unknown";
  }

  rememberMachineName(machine: string): void {
    if (this.machineName() !== machine) this.store.writeJson(`${this.store.dir}/machine.json`, { machine }, 0o644);
  }

  // ---- start-up ----

  /** After an agent (re)start: unfinished activations are undone, HAProxy matches the saved state. */
  async reconcile(): Promise<void> {
    for (const { project, app } of this.store.apps()) {
      const st = this.store.state(project, app);
      if (st.pending.length) {
        this.log(`${app}: removing ${st.pending.length} instance(s) of an unfinished activation`);
        const spec = st.active !== null ? this.store.release(project, app, st.active) : undefined;
        await this.discard(st.pending, backendName(project, app), spec?.stopTimeoutS ?? 10);
        st.pending = [];
        this.store.saveState(st);
      }
    }
    await this.removeOrphans();
    if (this.store.apps().some(({ project, app }) => this.store.state(project, app).active !== null)) {
      await this.proxy.ensureRunning();
      await this.proxy.sync();
    }
  }

  /** Stopped skiff containers that no state knows (e.g. left by a wiped state directory) are removed; running ones are only reported. */
  private async removeOrphans(): Promise<void> {
    const known = new Set<string>();
    for (const { project, app } of this.store.apps()) {
      const st = this.store.state(project, app);
      for (const i of [...st.instances, ...st.warm, ...st.pending]) known.add(i.name);
    }
    for (const runtime of Object.values(this.runtimes)) {
      for (const name of await runtime.list({ "skiff.managed": "1" }).catch(() => [] as string[])) {
        if (known.has(name)) continue;
        const s = await runtime.status(name);
        if (s.running) this.log(`${name} runs but no release state knows it; left alone`);
        else await runtime.remove(name).catch(() => {});
      }
    }
  }

  /** The release's pre_deploy command in a one-off instance: waits for its exit (or the timeout), keeps its output, removes it. */
  async runHook(p: { project: string; app: string; release: number; machine: string; deployId?: string; by?: string; holder?: string }): Promise<{ ok: boolean; code: number | null; output: string; durationMs: number; reason?: string }> {
    // Not under the app mutex (a migration may take long, and changes no instance): fenced at its start.
    this.fence(p.project, p.holder);
    const t0 = Date.now();
    const spec = this.store.release(p.project, p.app, p.release);
    if (!spec?.preDeploy) throw new Error(`release ${p.release} of ${p.app} has no pre_deploy hook on this machine`);
    if (spec.withheld) throw new Error(`release ${p.release} of ${p.app} is on this machine without its secrets (it runs none of the app here); the hook runs where the app runs`);
    const rt = this.rt(spec);
    const name = `skiff-${spec.project}-${spec.app}-${spec.release}-hook-${randomBytes(3).toString("hex")}`;
    const record = (result: "ok" | "failed", reason?: string) =>
      this.store.appendHistory({ at: new Date().toISOString(), machine: p.machine, project: p.project, app: p.app, release: p.release, action: "pre_deploy", result, reason, deployId: p.deployId, by: p.by, durationMs: Date.now() - t0, image: spec.image, commit: spec.git?.commit });
    let code: number | null = null;
    let output = "";
    let reason: string | undefined;
    try {
      await rt.start({
        name, image: spec.imageId, command: spec.preDeploy.command, user: spec.user, limits: spec.limits, oneOff: true, files: materializeFiles(this.store.dir, spec), volumes: spec.volumes, containerPort: spec.port, hostPort: 0, bindAddress: BIND,
        env: { ...spec.env, ...spec.secrets, SKIFF_APP: spec.app, SKIFF_RELEASE: String(spec.release), SKIFF_MACHINE: p.machine, SKIFF_HOOK: "pre_deploy" },
        labels: { "skiff.managed": "1", "skiff.project": spec.project, "skiff.app": spec.app, "skiff.release": String(spec.release), "skiff.hook": "pre_deploy" },
      });
      const until = t0 + spec.preDeploy.timeoutMs;
      let st = await rt.status(name);
      while (st.running && Date.now() < until) {
        await sleep(200);
        st = await rt.status(name);
      }
      if (st.running) {
        await rt.stop(name, spec.stopTimeoutS);
        reason = `pre_deploy did not finish within ${Math.round(spec.preDeploy.timeoutMs / 1000)}s and was stopped`;
      } else {
        code = st.exitCode;
        if (code !== 0) reason = `pre_deploy exited with code ${code ?? "?"}${st.oomKilled ? " (out of memory)" : ""}`;
      }
      output = await rt.logs(name, 200).catch(() => "");
    } catch (e) {
      reason = `pre_deploy could not start: ${(e as Error).message}`;
    } finally {
      await rt.remove(name).catch(() => {});
    }
    record(reason ? "failed" : "ok", reason);
    this.log(`${p.app} release ${p.release}: pre_deploy ${reason ?? "ok"}`);
    return { ok: !reason, code, output, durationMs: Date.now() - t0, reason };
  }

  /** The app's instances on the other machines, for this machine's HAProxy. */
  setPeers(project: string, app: string, peers: { name: string; addr: string; port: number }[]): Promise<void> {
    return this.mutex.run(`${project}/${app}`, async () => {
      const st = this.store.state(project, app);
      if (st.active === null) return;
      await this.proxy.setPeers(backendName(project, app), peers, st.instances.length === 0);
    });
  }

  /** Stops and removes every instance of an app, its HAProxy backend, releases and their images or artifacts. */
  removeApp(project: string, app: string, opts: { holder?: string; onlyIfActive?: number } = {}): Promise<{ removed: number; kept?: string }> {
    return this.mutex.run(`${project}/${app}`, async () => {
      this.fence(project, opts.holder, opts.onlyIfActive !== undefined);
      const st = this.store.state(project, app);
      // A revert of an app's first release: only while that release is still the one serving here.
      if (opts.onlyIfActive !== undefined && st.active !== opts.onlyIfActive) return { removed: 0, kept: `nothing to undo: release ${st.active ?? "none"} serves here, not ${opts.onlyIfActive}` };
      const specs = this.store.releases(project, app).map((n) => this.store.release(project, app, n)).filter((s): s is ReleaseSpec => Boolean(s));
      const insts = [...st.instances, ...st.warm, ...st.pending];
      const stopS = specs.find((s) => s.release === st.active)?.stopTimeoutS ?? 10;
      const backend = backendName(project, app);
      for (const i of insts) await this.proxy.disable(backend, i.name).catch(() => {});
      await this.discard(insts, backend, stopS);
      await this.proxy.removeBackend(backend);
      this.store.removeApp(project, app);
      const stillUsed = new Set(this.store.apps().flatMap(({ project: p, app: a }) => this.store.releases(p, a).map((n) => this.store.release(p, a, n)?.imageId)));
      for (const s of specs) {
        await this.rt(s).dropRelease?.(project, app, s.release).catch(() => {});
        if (!stillUsed.has(s.imageId)) await this.rt(s).removeImage?.(s.imageId).catch(() => {});
      }
      this.log(`${app}: removed (${insts.length} instance(s), ${specs.length} release(s))`);
      return { removed: insts.length };
    });
  }

  /** What `skiff status` shows for this machine. */
  async view(): Promise<unknown[]> {
    const out: unknown[] = [];
    for (const { project, app } of this.store.apps()) {
      const st = this.store.state(project, app);
      const describe = async (i: InstanceRecord) => {
        const s = await this.rt(i).status(i.name);
        const h = this.health.get(i.name);
        return { ...i, running: s.running, startedAt: s.startedAt ?? i.startedAt, healthy: Boolean(s.running && h?.healthy), health: h?.detail ?? "unknown", note: s.note, slotState: this.proxy.slotOf(backendName(project, app), i.name)?.state ?? "none" };
      };
      out.push({
        project,
        app,
        active: st.active,
        /** Declared per-instance resources of the active release: what this app reserves here. */
        limits: st.active !== null ? this.store.release(project, app, st.active)?.limits : undefined,
        placement: st.active !== null ? this.store.release(project, app, st.active)?.placement : undefined,
        releases: this.store.releases(project, app),
        instances: await Promise.all(st.instances.map(describe)),
        warm: await Promise.all(st.warm.map(describe)),
      });
    }
    return out;
  }
}
