// skiff deploy: lock → observe → plan → build → ship → per app: store the
// release everywhere, run its pre_deploy hook, roll it out machine batch by
// machine batch → unlock. Each machine always serves one complete release; a
// failure returns switched machines to theirs. With dryRun: observe and plan
// only (no lock, no build, nothing stored).
import { randomUUID } from "node:crypto";
import type { ReleaseSpec } from "../contracts/model.ts";
import { buildApps, type AppImage } from "../build/image.ts";
import type { AppSpec, Project } from "../config/model.ts";
import { UserError } from "../errors.ts";
import { accessoryStops, hookFor, wantedSpec } from "../plan/deploy.ts";
import type { AppDeployPlan, DeployPlan, HookPlan } from "../plan/model.ts";
import type { Observed } from "../plan/observed.ts";
import { chooseRelease, draftSpec, knownInstances, previousReleases, selectApps, specFor } from "../plan/release-spec.ts";
import { ship, type ShipTargets } from "../ship/ship.ts";
import type { AgentClient } from "../transport/agent-client.ts";
import type { Reporter } from "../contracts/events.ts";
import { releaseFiles } from "./files.ts";
import { pruneCerts, sendCerts } from "./tls-certs.ts";
import { prepareAuto } from "./tls-auto.ts";
import { syncAlerts } from "./alerts.ts";
import { backupSecrets, syncBackups } from "./backups.ts";
import { backupOnMachine, restoreOnMachine } from "./backup-ops.ts";
import { syncFirewall } from "./firewall.ts";
import { withDeployLock, type HeldLock } from "./lock.ts";
import { deployPlan, plan, type LocalFacts, type PlanEffects } from "./plan.ts";
import { rollout, runJob, type RolloutResult } from "./rollout.ts";
import { allInOrder } from "../lib/parallel.ts";

export { selectApps, specFor } from "../plan/release-spec.ts";

export interface DeployOptions {
  apps: string[];
  skipUnreachable?: boolean;
  waitForLock?: boolean;
  reporter: Reporter;
  /** Set by the CLI on Ctrl-C: no new rollout wave starts; switched machines go back. */
  interrupted?: () => boolean;
  /** Observe and plan only: no lock, no build, nothing shipped or stored. */
  dryRun?: boolean;
  /** Go ahead when the deploy stops an accessory (a restart of a database); without it such a deploy is refused. */
  restartAccessories?: boolean;
  effects?: PlanEffects;
}

export interface AppOutcome {
  app: string;
  release: number;
  image: string;
  result: RolloutResult | { ok: true; unchanged: true };
  /** Milliseconds: the release stored on every machine, its pre_deploy hook, the rollout (all waves). */
  phases: { store: number; hook: number; rollout: number };
}

/** Where a deploy's time went, in milliseconds: the lock taken, the machines observed and the plan made, the build
 *  (or the check that nothing needs building), the ship (or the check that every machine has it), then per app
 *  (summed) the release stored, the hook and the rollout. Each machine's activation has its own (ActivationPhases). */
export interface DeployPhases {
  lock: number;
  plan: number;
  build: number;
  ship: number;
  store: number;
  hook: number;
  rollout: number;
}

export interface DeployResult {
  /** What this deploy did (or, with dryRun, would do). */
  plan: DeployPlan;
  dryRun: boolean;
  outcomes: AppOutcome[];
  /** Unreachable machines left out (--skip-unreachable). */
  skipped: string[];
  /** Absent for a dry run. */
  phases?: DeployPhases;
  /** Wall time from the start to the last switch (the lock's release not included). */
  ms?: number;
}

/** Stores the release on every machine, each with what it may hold (see specFor). */
export async function putRelease(clients: AgentClient[], spec: ReleaseSpec): Promise<void> {
  await Promise.all(clients.map((c) => c.call("release.put", { spec: specFor(spec, c.machine) })));
}

/** The spec of an app as built here (files read now); `skiff diff` compares two environments' with it. */
export function releaseSpec(project: Project, app: AppSpec, image: AppImage, release: number, by: string, secrets?: Record<string, string>, placement?: Record<string, number>): ReleaseSpec {
  return draftSpec(project, app, image, { release, by, secrets, placement, files: app.files.length ? releaseFiles(project, app, secrets ?? {}) : undefined, createdAt: new Date().toISOString() });
}

interface Run {
  project: Project;
  lock: HeldLock;
  observed: Observed;
  facts: LocalFacts;
  deployId: string;
  opts: DeployOptions;
  /** The last app's cleanup after its rollout (a round trip to every machine): the certificates its routes no
   *  longer name. Done beside the deploy's record, or before the next app starts. Never rejects. */
  cleanup?: Promise<void>;
}

async function runHook(r: Run, app: string, release: number, hook: HookPlan): Promise<void> {
  const c = r.lock.clients.find((x) => x.machine === hook.machine)!;
  const started = Date.now();
  r.opts.reporter.emit({ type: "step", machine: c.machine, step: `${app}: pre_deploy (${hook.command})`, status: "start" });
  const h = await runJob<{ ok: boolean; output: string; reason?: string }>(c, "hook.run", { project: r.project.name, app, release, machine: c.machine, deployId: r.deployId, by: r.facts.by }, "pre_deploy");
  r.opts.reporter.emit({ type: "step", machine: c.machine, step: `${app}: pre_deploy`, status: h.ok ? "ok" : "failed", ms: Date.now() - started });
  if (!h.ok) {
    const out = h.output.split("\n").slice(-50).map((l) => `  │ ${l}`).join("\n");
    throw new UserError(`${c.machine}: ${app}: ${h.reason}; nothing was deployed${out ? `\n${out}` : ""}`, { hint: "fix the command or what it needs (it ran in a one-off instance of the new release), then deploy again" });
  }
}

/** Returns the snapshot made (the last machine's: an accessory runs on one). */
async function backupBefore(r: Run, a: AppDeployPlan): Promise<string | undefined> {
  const where = a.machines.filter((m) => m.stop > 0).map((m) => m.machine);
  // A move: the last backup there, after which it takes no connection and stays held stopped (serveAgain undoes it).
  const final = Boolean(a.accessory?.movesFrom);
  let made: string | undefined;
  for (const c of r.lock.clients.filter((x) => where.includes(x.machine))) {
    const b = await backupOnMachine(c, r.project.name, a.app, { by: r.facts.by, keepAll: true, reporter: r.opts.reporter, after: final ? "before it moves (it takes no connection from now on)" : "before it stops", final, holder: r.lock.holder });
    if (!b.ok) throw new UserError(`${c.machine}: ${a.app}: the backup before the upgrade failed: ${b.reason}; ${a.app} was not changed`, { hint: `fix the backup (\`skiff backup run ${a.app}\`), or take ${a.app}'s backups: out of skiff.yml for this deploy` });
    made = b.snapshot;
  }
  return made;
}

/** A move that did not happen: the accessory serves again where it ran (held stopped there since its last backup). */
async function serveAgain(r: Run, a: AppDeployPlan): Promise<void> {
  for (const c of r.lock.clients.filter((x) => a.accessory!.movesFrom!.includes(x.machine))) {
    const h = await c.call("app.hold", { project: r.project.name, app: a.app, machine: c.machine, held: false, holder: r.lock.holder, by: r.facts.by }).catch((e: Error) => ({ changed: false, reason: e.message }));
    r.opts.reporter.emit({ type: "step", machine: c.machine, step: `${a.app}: serves here again (the move did not happen)${h.reason ? `: ${h.reason}` : ""}`, status: h.reason ? "failed" : "ok" });
  }
}

/** The accessory runs on its new machine (started empty): the snapshot taken on the old one goes into it. */
async function restoreAfterMove(r: Run, a: AppDeployPlan, snapshot: string): Promise<void> {
  const c = r.lock.clients.find((x) => x.machine === a.accessory!.machine);
  if (!c) throw new UserError(`${a.app} moved to ${a.accessory!.machine}, which does not answer: its data is in snapshot ${snapshot.slice(0, 8)}`, { hint: `skiff backup restore ${a.app} --snapshot ${snapshot.slice(0, 8)} --yes` });
  const b = await restoreOnMachine(c, { project: r.project.name, app: a.app, snapshot, by: r.facts.by, holder: r.lock.holder }, r.opts.reporter, `${snapshot.slice(0, 8)} from ${a.accessory!.movesFrom!.join(", ")}`, `${snapshot.slice(0, 8)} from ${a.accessory!.movesFrom!.join(", ")}`);
  if (!b.ok) throw new UserError(`${c.machine}: ${a.app} moved, but its data did not follow: ${b.reason}`, { hint: `it runs on ${c.machine} without it; its data is in snapshot ${snapshot.slice(0, 8)}: skiff backup restore ${a.app} --snapshot ${snapshot.slice(0, 8)} --yes` });
}

/** One app of the plan: its release as built, stored everywhere, the hook, then the rollout. */
async function deployApp(r: Run, a: AppDeployPlan, image: AppImage): Promise<AppOutcome> {
  const app = r.project.apps[a.app]!;
  const draft = wantedSpec(r.project, app, image, a.placement, r.facts);
  // The plan's number, unless the build decided the image (then chosen the same way, from the same state).
  const { release } = chooseRelease(r.observed, draft);
  const spec = { ...draft, release };
  let t = Date.now();
  const lap = () => -t + (t = Date.now());
  // The lock is confirmed while the release is stored (both ask every machine: one round trip, not two).
  const [, lost] = await Promise.all([putRelease(r.lock.clients, spec), r.lock.check()]);
  if (lost) throw new UserError(`stopped before ${a.app} release ${release} took traffic anywhere: ${lost}`, { hint: "`skiff lock status` shows who holds it now" });
  const store = lap();
  const previous = previousReleases(r.observed, a.app);
  // An accessory that is about to stop (an upgrade on its volumes, or a move) is backed up first, where it runs now.
  const before = a.accessory?.restarts && app.backups ? await backupBefore(r, a) : undefined;
  const hook = hookFor(spec, release, previous);
  if (hook) await runHook(r, a.app, release, hook);
  const hookMs = lap();
  // Before any switch: each machine has the route's certificate when its activation adds the HTTPS frontend.
  await sendCerts(r.lock.clients, r.facts.certs?.[a.app] ?? [], r.opts.reporter);
  // tls: auto: each of the app's machines keeps its hosts renewed; the first certificate is ordered now.
  const auto = await prepareAuto({ project: r.project, app, clients: r.lock.clients, placement: a.placement, reporter: r.opts.reporter });
  // A database that moves is restored into its new instance before that takes a connection (the agent's activation);
  // other kinds once it runs there (restoreAfterMove).
  const moved = a.accessory?.movesFrom && before ? before : undefined;
  const restoreIn = moved && app.backups?.kind === "postgres" ? { machine: a.accessory!.machine, snapshot: moved } : undefined;
  const result = await rollout({
    project: r.project.name, app: a.app, target: release, previous, known: knownInstances(r.observed, a.app), clients: r.lock.clients, waves: a.batches, placement: a.placement, restore: restoreIn,
    action: "deploy", deployId: r.deployId, by: r.facts.by, keepWarm: app.deploy.keepWarm, canaryWaitMs: app.deploy.canaryWaitMs, tcp: app.protocol === "tcp", reporter: r.opts.reporter, interrupted: r.opts.interrupted ?? (() => false), checkLock: r.lock.check,
    // Checked as the release was stored; only certificates went out since, unless a backup or the hook ran.
    lockJustChecked: !before && !hook,
  });
  if (result.ok) r.cleanup = pruneCerts(r.lock.clients, r.project.name, a.app, [...(r.facts.certs?.[a.app] ?? []), ...auto], r.opts.reporter);
  // A moved accessory's data follows it: the backup just made is restored where it runs now.
  if (moved && !result.ok) await serveAgain(r, a);
  if (result.ok && moved && !restoreIn) await restoreAfterMove(r, a, moved);
  return { app: a.app, release, image: image.ref, result, phases: { store, hook: hookMs, rollout: lap() } };
}

/** The whole deploy's record on every machine (`skiff history` shows its wall time and phases, not the longest
 *  machine's part). A machine that does not take it only loses that line: the deploy stands. */
async function recordSummary(r: Run, outcomes: AppOutcome[], ms: number, phases: DeployPhases): Promise<void> {
  // An app that changed nowhere (a re-run) gets no record, as its machines' activations write none.
  const changed = outcomes.filter((o) => !("switched" in o.result) || !o.result.ok || o.result.switched.length > 0);
  const entries = changed.map((o) => ({
    at: new Date().toISOString(), project: r.project.name, app: o.app, release: o.release, action: "deploy" as const,
    result: o.result.ok ? ("ok" as const) : ("failed" as const), reason: "failure" in o.result ? o.result.failure?.reason : undefined,
    deployId: r.deployId, by: r.facts.by, durationMs: ms, image: o.image,
    phases: { lock: phases.lock, plan: phases.plan, build: phases.build, ship: phases.ship, ...o.phases },
  }));
  if (!entries.length) return;
  await Promise.all(r.lock.clients.map((c) => Promise.all(entries.map((entry) => c.call("history.add", { entry, machine: c.machine }))).catch(() => {})));
}

/** Where each app's image or artifact goes: the machines it is placed on, and the one its pre_deploy hook runs on. */
export function shipTargets(p: DeployPlan): ShipTargets {
  return new Map(p.apps.map((a) => [a.app, new Set([...Object.entries(a.placement).filter(([, n]) => n > 0).map(([m]) => m), ...(a.hook ? [a.hook.machine] : [])])]));
}

export async function deploy(project: Project, opts: DeployOptions): Promise<DeployResult> {
  if (opts.dryRun) {
    const p = await plan(project, { apps: opts.apps, skipUnreachable: opts.skipUnreachable, effects: opts.effects });
    return { plan: p, dryRun: true, outcomes: [], skipped: p.skipped };
  }
  const names = selectApps(project, opts.apps).map((a) => a.name);
  const deployId = randomUUID();
  const t0 = Date.now();
  return withDeployLock(project, `deploy ${names.join(" ")}`, { skipUnreachable: opts.skipUnreachable, waitMs: opts.waitForLock ? 10 * 60_000 : 0 }, async (lock) => {
    let t = Date.now();
    const lap = () => -t + (t = Date.now());
    const phases: DeployPhases = { lock: t - t0, plan: 0, build: 0, ship: 0, store: 0, hook: 0, rollout: 0 };
    for (const u of lock.unreachable) opts.reporter.emit({ type: "note", machine: u.machine, message: "unreachable, skipped (--skip-unreachable)" });
    // Placement is part of the plan: what does not fit is refused here, before anything is built or shipped.
    const { plan: p, observed, facts } = await deployPlan(lock.clients, project, { apps: opts.apps, printed: false, unreachable: lock.unreachable.map((u) => u.machine), effects: opts.effects });
    const stops = accessoryStops(p);
    if (stops.length && !opts.restartAccessories) {
      throw new UserError(`this deploy would stop ${stops.length === 1 ? "an accessory" : "accessories"}: ${stops.join("; ")}; nothing was changed`, { hint: `\`skiff plan\` shows why; run again with --yes to go ahead, or deploy only the apps: skiff deploy ${p.apps.filter((a) => !a.accessory).map((a) => a.app).join(" ") || "APP"}` });
    }
    // Before anything moves: a backup password that is not set, or a machine whose firewall cannot be set, is
    // named now, not half way through. The three are independent: one round trip to the machines, not three.
    // A moving accessory keeps its job where it runs now, for the backup its data follows in.
    // A backup password not set is refused before any of them asks a machine anything.
    const secrets = await backupSecrets(project);
    await allInOrder([
      syncBackups(lock.clients, project, opts.reporter, new Map(p.apps.flatMap((a) => (a.accessory?.movesFrom ? [[a.app, a.accessory.movesFrom]] : []))), secrets),
      syncFirewall(lock.clients, project, opts.reporter),
      syncAlerts(lock.clients, project, opts.reporter),
    ]);
    phases.plan = lap();
    const apps = p.apps.map((a) => project.apps[a.app]!);
    const images = await buildApps(project, apps, opts.reporter, facts.images);
    phases.build = lap();
    await ship(images, lock.clients, opts.reporter, shipTargets(p));
    phases.ship = lap();
    const run: Run = { project, lock, observed, facts, deployId, opts };
    const outcomes: AppOutcome[] = [];
    try {
      for (const a of p.apps) {
        // The app before's cleanup is done before this one changes anything (only the last one's goes with the record).
        await run.cleanup;
        const outcome = await deployApp(run, a, images.find((i) => i.app === a.app)!);
        outcomes.push(outcome);
        for (const k of ["store", "hook", "rollout"] as const) phases[k] += outcome.phases[k];
        if (!outcome.result.ok) break;
      }
    } catch (e) {
      // Not left running while the lock is released and the channels close.
      await run.cleanup;
      throw e;
    }
    const ms = Date.now() - t0;
    await Promise.all([recordSummary(run, outcomes, ms, phases), run.cleanup]);
    return { plan: p, dryRun: false, outcomes, skipped: p.skipped, phases, ms };
  });
}
