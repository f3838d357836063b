// Per app, machine batch by machine batch: activate the target release (the
// agent starts, gates on health, switches, drains, stops). A failure stops the
// rollout and returns every machine already switched to its previous release.
import { randomUUID } from "node:crypto";
import type { ActivateParams, ActivateResult, ActivationOutcome, InstanceList } from "../contracts/activate.ts";
import { UserError } from "../errors.ts";
import { refusedForLock } from "../contracts/fence.ts";
import type { AgentClient } from "../transport/agent-client.ts";
import type { Reporter } from "../contracts/events.ts";
import type { CheckOptions } from "./lock.ts";
import { PeerBook } from "./placement.ts";
import { watchCanary } from "./canary.ts";

export interface Failure {
  machine: string;
  reason: string;
  failedInstance?: string;
  logs?: string;
}

export interface RolloutResult {
  ok: boolean;
  /** What each switched machine's activation said (less the machine's own account of its instances and peers:
   *  the rollout's business). */
  switched: ActivationOutcome[];
  unchanged: string[];
  failure?: Failure;
  reverted: { machine: string; to: number | null; ok: boolean; reason?: string }[];
  /** Each wave that ran: its machines and how long it took (activations and the peers' update). */
  waves: { machines: string[]; ms: number; ok: boolean }[];
}

/** Starts an activation job and waits for it, surviving a dropped connection (the job goes on on the machine). */
export function activateOn(c: AgentClient, params: ActivateParams): Promise<ActivateResult> {
  return runJob<ActivateResult>(c, "activate", params, `activation of release ${params.release}`);
}

type JobState<T> = { done: boolean; result?: T; error?: string };

/** Starts a job in the agent (activate, hook.run) and waits for its result, reconnecting if the channel drops.
 *  The job's id is chosen here, so its first wait is sent right behind the start (one round trip, not two: the
 *  agent takes a channel's requests in order); an agent that predates that names its own, and is waited on by it. */
export async function runJob<T>(c: AgentClient, method: string, params: object, what: string): Promise<T> {
  const mine = randomUUID();
  const sent = { ...params, job: mine };
  const lost = (e: unknown) => e instanceof UserError && /lost the connection/.test(e.message);
  // The start first, its wait right behind it on the same channel.
  let start = c.call<{ job: string }>(method, sent);
  const early = c.call<JobState<T>>("job.wait", { job: mine, timeoutMs: 20_000 });
  early.catch(() => {}); // the start's failure is the one told
  let first: Promise<JobState<T>> | undefined = early;
  let drops = 0;
  let job: string;
  for (;;) {
    try {
      ({ job } = await start);
      break;
    } catch (e) {
      // The start may have got there before the connection dropped: sent again, the agent knows it as that job
      // (same id, same parameters) and does not start it twice.
      if (!lost(e) || ++drops > 3) throw e;
      first = undefined;
      await new Promise((r) => setTimeout(r, 1000));
      start = c.call<{ job: string }>(method, sent);
    }
  }
  if (job !== mine) first = undefined;
  for (;;) {
    try {
      const waiting = first ?? c.call<JobState<T>>("job.wait", { job, timeoutMs: 20_000 });
      first = undefined;
      const r = await waiting;
      if (!r.done) continue;
      if (r.error) throw new UserError(`${c.machine}: ${what} failed: ${r.error}`);
      return r.result!;
    } catch (e) {
      if (!lost(e) || ++drops > 3) throw e;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

export interface RolloutInput {
  project: string;
  app: string;
  target: number;
  /** Release active on each machine before this rollout (null: none). */
  previous: Map<string, number | null>;
  clients: AgentClient[];
  /** The plan's waves (machine names), in order; without them, `maxParallel` machines at a time. */
  waves?: string[][];
  maxParallel?: number;
  action: "deploy" | "rollback" | "scale" | "restart";
  /** Only the machines the waves name take part (a restart of some machines); the others only hear of peers. */
  onlyWaves?: boolean;
  deployId: string;
  by: string;
  keepWarm: boolean;
  reporter: Reporter;
  interrupted: () => boolean;
  /** Instances per machine after the rollout (the plan's placement): a machine that keeps some needs its peers
   *  only at the end; unknown, every machine hears of them before its wave. */
  placement?: Record<string, number>;
  /** A TCP app (protocol: tcp): its peers are the other machines' mesh TCP frontends (placement.ts PeerBook). */
  tcp?: boolean;
  /** The app's instances and peers on each machine as the plan read them, under this same lock (nothing else
   *  changes them meanwhile): telling the peers after the canary wave then asks no machine again. */
  known?: Map<string, InstanceList>;
  /** A database moving to `machine`: its activation there restores this snapshot before it serves. */
  restore?: { machine: string; snapshot: string };
  /** How long the canary wave's new instances are watched before the next wave (deploy.canary_wait; 0: not). */
  canaryWaitMs?: number;
  /** Heartbeats the deploy lock: a reason when it is no longer this rollout's (it then stops and reverts).
   *  The clients come from the lock (HeldLock.clients): their changes name its holder, so the agents refuse
   *  them, reverts included, once the lock is not this rollout's. */
  checkLock?: (opts?: CheckOptions) => Promise<string | undefined>;
  /** The caller checked the lock just before, with nothing in between that a lost lock must stop: the first wave
   *  starts without asking every machine again. */
  lockJustChecked?: boolean;
}

/** The waves as clients: the plan's (a machine it does not name goes in a last wave), or maxParallel at a time. */
export function clientWaves(i: Pick<RolloutInput, "clients" | "waves" | "maxParallel" | "onlyWaves">): AgentClient[][] {
  if (!i.waves) {
    const n = i.maxParallel ?? i.clients.length;
    if (!Number.isInteger(n) || n < 1) throw new UserError(`max parallel must be a whole number of machines, at least 1 (got ${n})`, { exitCode: 2 });
    const out: AgentClient[][] = [];
    for (let k = 0; k < i.clients.length; k += n) out.push(i.clients.slice(k, k + n));
    return out;
  }
  const byName = new Map(i.clients.map((c) => [c.machine, c]));
  const waves = i.waves.map((w) => w.flatMap((m) => (byName.has(m) ? [byName.get(m)!] : []))).filter((w) => w.length);
  const named = new Set(i.waves.flat());
  const rest = i.clients.filter((c) => !named.has(c.machine));
  return rest.length && !i.onlyWaves ? [...waves, rest] : waves;
}

export async function rollout(i: RolloutInput): Promise<RolloutResult> {
  const waves = clientWaves(i);
  const peers = new PeerBook(i.project, i.app, i.clients, i.tcp);
  for (const [machine, list] of i.known ?? []) peers.learn(machine, list);
  const out: RolloutResult = { ok: true, switched: [], unchanged: [], reverted: [], waves: [] };
  // Machines whose activation failed after (or may have failed after) the switch: they go back too.
  const maybeSwitched: string[] = [];
  const params = (c: AgentClient, release: number, action: ActivateParams["action"], revert?: ActivateParams["revert"]): ActivateParams => ({
    project: i.project, app: i.app, release, machine: c.machine, action, deployId: i.deployId, by: i.by, keepWarm: i.keepWarm, revert,
    ...(i.restore?.machine === c.machine && !revert ? { restore: i.restore.snapshot } : {}),
    // Instances listen on addresses of their machine alone (loopback; a container on Docker's gateway: docker.ts):
    // other machines reach them through this machine's mesh frontends (mTLS), HTTP and TCP alike.
    bindAddress: "127.0.0.1",
    httpPort: c.transport.machine.httpPort,
    httpsPort: c.transport.machine.httpsPort,
  });
  // Another deploy may hold the lock now: its picture of the peers is the true one, not ours.
  let lockGone = false;
  const lockLost = async (final = false) => {
    const why = await i.checkLock?.({ final, warn: (message) => i.reporter.emit({ type: "note", message }) });
    if (why) {
      out.failure ??= { machine: "local", reason: `stopped: ${why}` };
      lockGone = true;
    }
    return Boolean(why);
  };
  // The canary wave is the first of several whose first wave is smaller than the next: it goes alone.
  const canary = waves.length > 1 && waves[0]!.length < waves[1]!.length;
  // The lock check before a wave runs beside the wave before it: it asks every machine, which takes a round trip
  // on the slowest of them, and the agents refuse a change whose lock is not this rollout's in any case (fenced
  // clients). A lock found lost meanwhile stops the rollout before the next wave, as a check made then would.
  let nextCheck: Promise<boolean> | undefined;
  // The closing check (see below the waves), started once the last wave has switched.
  let finalCheck: Promise<boolean> | undefined;
  for (let k = 0; k < waves.length && !out.failure; k++) {
    if (i.interrupted()) {
      out.failure = { machine: "local", reason: "interrupted (Ctrl-C)" };
      break;
    }
    if (!(k === 0 && i.lockJustChecked) && (await (nextCheck ?? lockLost()))) break;
    nextCheck = k + 1 < waves.length && i.checkLock ? lockLost() : undefined;
    nextCheck?.catch(() => {}); // awaited before the next wave; one left behind by a failure is awaited below
    const batch = waves[k]!;
    const waveStarted = Date.now();
    const wave = { type: "wave" as const, app: i.app, release: i.target, index: k + 1, total: waves.length, machines: batch.map((c) => c.machine), canary: canary && k === 0 };
    i.reporter.emit({ ...wave, status: "start" });
    for (const c of batch) i.reporter.emit({ type: "step", machine: c.machine, step: `${i.app}: activate release ${i.target}`, status: "start" });
    const settled = await Promise.allSettled(batch.map((c) => activateOn(c, params(c, i.target, i.action))));
    // What each machine said of itself with its result: those need not be asked again below.
    const heard = new Set<AgentClient>();
    settled.forEach((s, n) => {
      const c = batch[n]!;
      if (s.status === "fulfilled") {
        const { list, ...value } = s.value;
        s.value = value;
        if (list) {
          peers.learn(c.machine, list);
          heard.add(c);
        }
      }
      if (s.status === "rejected") {
        // We cannot know how far it got: it may have switched before it threw.
        maybeSwitched.push(c.machine);
        out.failure ??= { machine: c.machine, reason: (s.reason as Error).message };
        i.reporter.emit({ type: "step", machine: c.machine, step: `${i.app}: activate release ${i.target}`, status: "failed" });
      } else if (!s.value.ok) {
        if (s.value.changed) maybeSwitched.push(c.machine);
        out.failure ??= { machine: c.machine, reason: s.value.reason ?? "failed", failedInstance: s.value.failedInstance, logs: s.value.logs };
        i.reporter.emit({ type: "step", machine: c.machine, step: `${i.app}: activate release ${i.target}`, status: "failed", ms: s.value.durationMs, detail: s.value.reason });
      } else if (s.value.changed) {
        out.switched.push(s.value);
        i.reporter.emit({ type: "step", machine: c.machine, step: `${i.app}: release ${i.target} serving`, status: "ok", ms: s.value.durationMs });
      } else {
        out.unchanged.push(c.machine);
        i.reporter.emit({ type: "step", machine: c.machine, step: `${i.app}: release ${i.target} already serving`, status: "ok" });
      }
    });
    // A machine whose agent refused the wave for the lock (its check ran beside the wave before): the rollout
    // stopped for a lost lock, as a check just before this wave would have said, not for the release.
    const failed = out.failure as Failure | undefined; // set in the callback above (TypeScript narrowed it to none)
    if (failed && failed.machine !== "local" && refusedForLock(failed.reason) && i.checkLock) {
      out.failure = undefined;
      if (!(await lockLost())) out.failure = failed;
    }
    if (k === 0 && canary && waves.length > 1 && !out.failure && (i.canaryWaitMs ?? 0) > 0) {
      const watched = batch.filter((c) => out.switched.some((r) => r.machine === c.machine));
      if (watched.length) {
        i.reporter.emit({ type: "note", message: `${i.app}: watching the canary (${watched.map((c) => c.machine).join(", ")}) for ${(i.canaryWaitMs! / 1000).toFixed(1)}s before the next wave` });
        const problem = await watchCanary(watched, i.project, i.app, i.target, i.canaryWaitMs!, async () => i.interrupted());
        if (problem) out.failure ??= { machine: problem.machine, reason: `canary: ${problem.reason}`, failedInstance: problem.failedInstance };
        else if (i.interrupted()) out.failure ??= { machine: "local", reason: "interrupted (Ctrl-C)" };
      }
    }
    // Where the app's instances now are: at once to machines that serve it through peers, and to those of the
    // next wave that will be left without instances of their own, before they activate; the rest at the end.
    // After a failure only the peer-only machines hear now: everyone does once the reverts below are done.
    await peers.refresh(batch.filter((c) => !heard.has(c)));
    const last = k === waves.length - 1 && !out.failure;
    const emptied = last || out.failure ? [] : waves[k + 1]!.filter((c) => !i.placement || !(i.placement[c.machine]! > 0));
    const ok = !out.failure;
    // After the last wave the closing check asks every machine while they are told their peers (a round trip
    // each, and the agents refuse the telling anyway once the lock is not this rollout's).
    if (last) {
      finalCheck = lockLost(true);
      finalCheck.catch(() => {}); // awaited below
    }
    await peers.tell(last ? i.clients : [...new Set([...peers.peerOnly(), ...emptied])]);
    const ms = Date.now() - waveStarted;
    out.waves.push({ machines: wave.machines, ms, ok });
    i.reporter.emit({ ...wave, status: ok ? "ok" : "failed", ms });
  }
  // A lock taken during the last batch: another deploy may have started; what this one switched goes back
  // (where the lock is still ours: the agents refuse the rest). A machine that merely did not confirm the lock
  // is a warning here: each switch was made under our lock, so the finished deploy stands.
  await nextCheck?.catch(() => {});
  if (finalCheck) await finalCheck;
  else if (!out.failure) await lockLost(true);
  if (!out.failure) return out;

  out.ok = false;
  const reason = `${out.failure.machine}: ${out.failure.reason}`;
  await Promise.all(
    [...out.switched.map((r) => r.machine), ...maybeSwitched].map(async (machine) => {
      const c = i.clients.find((x) => x.machine === machine)!;
      const to = i.previous.get(machine) ?? null;
      if (to === i.target) {
        // It served this release before: nothing to return to, and nothing to undo (a restart's new instances
        // run the release that served).
        if (maybeSwitched.includes(machine) || i.action === "restart") return;
        out.reverted.push({ machine: machine, to, ok: false, reason: "no previous release to return to" });
        return;
      }
      if (to === null) {
        // The app's first release there: going back means running nothing, as before this deploy.
        try {
          // Only while it still runs this deploy's release: never over another deploy's.
          const r = await c.call<{ removed: number; kept?: string }>("app.remove", { project: i.project, app: i.app, onlyIfActive: i.target });
          out.reverted.push({ machine: machine, to: null, ok: true, reason: r.kept });
          if (r.kept) i.reporter.emit({ type: "note", machine, message: `${i.app}: not removed: ${r.kept}` });
          else i.reporter.emit({ type: "step", machine: machine, step: `${i.app}: removed again (this was its first release there)`, status: "undone" });
        } catch (e) {
          out.reverted.push({ machine: machine, to: null, ok: false, reason: (e as Error).message });
        }
        return;
      }
      try {
        const back = await activateOn(c, params(c, to, "rollback", { release: i.target, reason }));
        out.reverted.push({ machine: machine, to, ok: back.ok, reason: back.reason });
        if (back.ok && !back.changed && back.reason) i.reporter.emit({ type: "note", machine, message: `${i.app}: not reverted: ${back.reason}` });
        else i.reporter.emit({ type: "step", machine: machine, step: `${i.app}: back on release ${to}`, status: back.ok ? "undone" : "failed", ms: back.durationMs, detail: back.reason });
      } catch (e) {
        out.reverted.push({ machine: machine, to, ok: false, reason: (e as Error).message });
      }
    }),
  );
  if (!lockGone) {
    await peers.refresh([...out.switched.map((r) => r.machine), ...maybeSwitched].flatMap((m) => i.clients.filter((c) => c.machine === m)));
    await peers.tell(i.clients);
  }
  return out;
}
