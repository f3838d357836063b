// The programmatic face of skiff: everything the CLI does, as typed calls on a
// project. The CLI parses arguments, calls these and renders what they return;
// a CI script, a custom scheduler or a chat bot calls the same.
//
// Every method runs with this Skiff's host settings (user, docker, ssh
// sockets, age key: see HostSettings), reports progress to its event
// listeners, and fails with one of two kinds of error: UserError (the input or
// the machines; RemoteError and AgentRefused are kinds of it) or InternalError
// (a bug in skiff).
import type { Project } from "../config/model.ts";
import { validateEverywhere } from "../config/load.ts";
import type { Reporter } from "../contracts/events.ts";
import { typedError } from "../errors.ts";
import { deploy as execDeploy, type AppOutcome, type DeployResult as DeployDone } from "../exec/deploy.ts";
import { plan as execPlan, type PlanEffects } from "../exec/plan.ts";
import { remove as execRemove, type RemoveResult as RemoveDone } from "../exec/remove.ts";
import { rollback as execRollback, type RollbackOutcome, type RollbackResult as RollbackDone } from "../exec/rollback.ts";
import type { RolloutResult } from "../exec/rollout.ts";
import { scale as execScale, type ScaleOutcome, type ScaleResult as ScaleDone } from "../exec/scale.ts";
import type { DeployPlan, RemovePlan, RollbackPlan, ScalePlan } from "../plan/model.ts";
import { settingsFromEnv, withHostSettings, type HostSettings } from "../settings.ts";
import { EventHub, type EventListener } from "./events.ts";
import { gatherHistory, type History } from "./history.ts";
import { lockOn, type LockState } from "./lock.ts";
import { checkMachines, machineLoads, type CheckRow, type MachineLoad } from "./machines.ts";
import { openProject, type ProjectSource } from "./project.ts";
import { setupProject, type MachineSetupResult, type SetupOptions } from "./setup.ts";
import { allHealthy, gatherStatus, type MachineState } from "./status.ts";
import { trustMachines, type TrustOptions, type TrustResult } from "./trust.ts";

export interface OpenOptions extends ProjectSource {
  /** Host settings given in code; they win over the environment's. */
  settings?: HostSettings;
  /** Where host settings are read from (once, here). Default: process.env; `{}` ignores the environment. */
  env?: NodeJS.ProcessEnv;
  /** A first event listener (more with `on`). */
  onEvent?: EventListener;
}

/** What every call that changes machines takes. */
export interface CallOptions {
  /** This call's own event listener, besides the Skiff's. */
  onEvent?: EventListener;
  /** Aborting stops new machine batches; machines already switched go back to their previous release. */
  signal?: AbortSignal;
}

/** What every call that changes machines takes, besides CallOptions. */
export interface ChangeOptions extends CallOptions {
  /** Observe and plan only: return the plan this call would carry out and change nothing (no lock taken). */
  dryRun?: boolean;
}

export interface DeployOptions extends ChangeOptions {
  /** Apps to deploy (default: all). */
  apps?: string[];
  /** Deploy to the machines that answer and leave the others. */
  skipUnreachable?: boolean;
  /** Wait (up to 10 minutes) for another deploy's lock instead of failing. */
  waitForLock?: boolean;
}

export type { AppOutcome, DeployPlan, RemovePlan, RollbackOutcome, RollbackPlan, RolloutResult, ScaleOutcome, ScalePlan };

/** `ok`: every app's rollout succeeded (or had nothing to do, or this was a dry run). */
export type DeployResult = DeployDone & { ok: boolean };

export interface RollbackOptions extends ChangeOptions {
  apps?: string[];
  /** Release to activate (default: the newest earlier one that served successfully). */
  to?: number;
  /** Machines switched at a time (default: all). */
  maxParallel?: number;
  skipUnreachable?: boolean;
}

export type RollbackResult = RollbackDone & { ok: boolean };
export type ScaleResult = ScaleDone & { ok: boolean };
export type RemoveResult = RemoveDone;

export interface ValidateResult {
  ok: true;
  project: string;
  environment: string | null;
  machines: string[];
  apps: string[];
}

export type { CheckRow, History, LockState, MachineLoad, MachineSetupResult, MachineState, SetupOptions, TrustOptions, TrustResult };

export class Skiff {
  private readonly hub = new EventHub();
  private readonly settings: HostSettings;
  private readonly effects: PlanEffects | undefined;

  /** The lock on each machine: who holds it, and breaking a dead deploy's lock. */
  readonly lock = {
    /** Who holds the project's deploy lock, per machine. */
    status: (): Promise<LockState[]> => this.run(() => lockOn(this.project, "status")),
    /** Breaks the lock of a deploy that died; a live one (heartbeats still coming) only with `force`. */
    release: (opts: { force?: boolean } = {}): Promise<LockState[]> => this.run(() => lockOn(this.project, "release", opts.force === true)),
  };

  /** The machines themselves. */
  readonly machines = {
    /** Per machine: reachable, OS, disk, memory, Docker, HAProxy, agent (`skiff machines check`). */
    check: (names: string[] = []): Promise<CheckRow[]> => this.run(() => checkMachines(this.project, names)),
    /** Show machines' SSH host keys and record them in .skiff/known_hosts (`skiff machines trust`). */
    trust: (opts: TrustOptions = {}): Promise<TrustResult[]> => this.run(() => trustMachines(this.project, opts)),
    /** Each machine's capacity and load, as placement of `app` sees it: for schedulers of your own. */
    load: (app: string): Promise<MachineLoad[]> => this.run(() => machineLoads(this.project, app)),
  };

  /** A Skiff over a loaded project (Skiff.open loads one). */
  constructor(
    /** The loaded, checked project: its machines and apps as skiff uses them. */
    readonly project: Project,
    opts: { settings?: HostSettings; onEvent?: EventListener; /** Tests: how plans observe the machines and this computer (default: really). */ planEffects?: PlanEffects } = {},
  ) {
    this.settings = opts.settings ?? {};
    this.effects = opts.planEffects;
    if (opts.onEvent) this.hub.add(opts.onEvent);
  }

  /** Opens a project from skiff.yml / skiff.config.ts (found from `dir` up, or `config` as a path) or from a config object. */
  static async open(opts: OpenOptions = {}): Promise<Skiff> {
    const settings = { ...settingsFromEnv(opts.env ?? process.env), ...definedOnly(opts.settings ?? {}) };
    const project = withHostSettings(settings, () => {
      try {
        return openProject(opts);
      } catch (e) {
        throw typedError(e);
      }
    });
    return new Skiff(project, { settings, onEvent: opts.onEvent });
  }

  /** Adds a listener for progress events; returns the function that removes it. */
  on(what: "event", fn: EventListener): () => void {
    void what; // one kind of event today; the name leaves room for more
    return this.hub.add(fn);
  }

  /** Builds, ships and rolls out a new release of each app with zero downtime; the result holds the plan it carried out. */
  deploy(opts: DeployOptions = {}): Promise<DeployResult> {
    return this.run(async (reporter, interrupted) => {
      const done = await execDeploy(this.project, { apps: opts.apps ?? [], skipUnreachable: opts.skipUnreachable, waitForLock: opts.waitForLock, dryRun: opts.dryRun, reporter, interrupted, effects: this.effects });
      return { ...done, ok: done.outcomes.every((o) => o.result.ok) };
    }, opts);
  }

  /** What `deploy` would do now, per app and machine (the same plan deploy carries out); reads only, no lock. */
  plan(opts: { apps?: string[]; skipUnreachable?: boolean } = {}): Promise<DeployPlan> {
    return this.run(() => execPlan(this.project, { apps: opts.apps ?? [], skipUnreachable: opts.skipUnreachable, effects: this.effects }));
  }

  /** Activates an older release, whole (image and config), through the same safe sequence. */
  rollback(opts: RollbackOptions = {}): Promise<RollbackResult> {
    return this.run(async (reporter, interrupted) => {
      const done = await execRollback(this.project, { apps: opts.apps ?? [], to: opts.to, maxParallel: opts.maxParallel, skipUnreachable: opts.skipUnreachable, dryRun: opts.dryRun, reporter, interrupted, effects: this.effects });
      return { ...done, ok: done.outcomes.every((a) => a.result.ok) };
    }, opts);
  }

  /** A new release of the active one with these instance counts ({ web: 4 }), placed over each app's machines. */
  scale(targets: Record<string, number>, opts: ChangeOptions = {}): Promise<ScaleResult> {
    return this.run(async (reporter, interrupted) => {
      const done = await execScale(this.project, Object.entries(targets).map(([app, instances]) => ({ app, instances })), { dryRun: opts.dryRun, reporter, interrupted, effects: this.effects });
      return { ...done, ok: done.outcomes.every((a) => a.result.ok) };
    }, opts);
  }

  /** Stops apps on every machine and deletes their releases (history stays). No confirmation: the call is the intent. */
  remove(apps: string[], opts: ChangeOptions = {}): Promise<RemoveResult> {
    return this.run(() => execRemove(this.project, { apps, dryRun: opts.dryRun, effects: this.effects }), opts);
  }

  /** What runs where: per machine, each app's release, instances, health, restarts (`skiff status`). */
  status(opts: { app?: string } = {}): Promise<MachineState[]> {
    return this.run(() => gatherStatus(this.project, opts.app));
  }

  /** Asks status until every machine answers and every instance of `app` (all apps by default) runs healthy on its active release; the last status either way. */
  waitHealthy(opts: { app?: string; timeoutMs?: number; intervalMs?: number } = {}): Promise<{ healthy: boolean; machines: MachineState[] }> {
    return this.run(async () => {
      const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
      for (;;) {
        const machines = await gatherStatus(this.project, opts.app);
        if (allHealthy(machines, opts.app) || Date.now() >= deadline) return { healthy: allHealthy(machines, opts.app), machines };
        await new Promise((r) => setTimeout(r, opts.intervalMs ?? 1000));
      }
    });
  }

  /** Deploys, rollbacks, scales and restarts merged across machines, oldest first (`skiff history`). */
  history(opts: { app?: string; limit?: number } = {}): Promise<History> {
    return this.run(() => gatherHistory(this.project, opts));
  }

  /** Prepares machines: Docker, HAProxy, Node and the agent (idempotent); with dryRun, only says what it would do. */
  setup(opts: SetupOptions & CallOptions = {}): Promise<MachineSetupResult[]> {
    return this.run((reporter) => setupProject(this.project, opts, reporter), opts);
  }

  /** Checks the config file and every environment overlay in it (a config object was checked when opened). */
  validate(): Promise<ValidateResult> {
    return this.run(async () => {
      if (!this.project.file.endsWith("/config object")) validateEverywhere({ file: this.project.file });
      const p = this.project;
      return { ok: true as const, project: p.name, environment: p.environment ?? null, machines: Object.keys(p.machines), apps: Object.keys(p.apps) };
    });
  }

  /** Runs a call with this Skiff's settings and listeners; any failure leaves as a UserError or an InternalError. */
  private async run<T>(fn: (reporter: Reporter, interrupted: () => boolean) => Promise<T>, call: CallOptions = {}): Promise<T> {
    const reporter = this.hub.reporter(call.onEvent);
    const interrupted = () => call.signal?.aborted ?? false;
    try {
      return await withHostSettings(this.settings, () => fn(reporter, interrupted));
    } catch (e) {
      throw typedError(e);
    }
  }
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
