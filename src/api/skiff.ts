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
import type { Reporter } from "../contracts/events.ts";
import { typedError, UserError } from "../errors.ts";
import type { AppOutcome, DeployPhases, DeployResult as DeployDone } from "../exec/deploy.ts";
import type { PlanEffects } from "../exec/plan.ts";
import type { RemoveResult as RemoveDone } from "../exec/remove.ts";
import type { RollbackOutcome, RollbackPhases, RollbackResult as RollbackDone } from "../exec/rollback.ts";
import type { RolloutResult } from "../exec/rollout.ts";
import type { ScaleOutcome, ScaleResult as ScaleDone } from "../exec/scale.ts";
import type { RestartOutcome, RestartResult as RestartDone } from "../exec/restart.ts";
import type { HoldOutcome } from "../exec/accessory.ts";
import type { BackupOutcome, RestoreOutcome, VerifyResult } from "../exec/backup-ops.ts";
import type { Snapshot } from "../contracts/backups.ts";
import type { RestartPlan } from "../plan/restart.ts";
import type { ExecOptions, ReachOptions, ReachResult } from "./reach.ts";
import type { DeployPlan, RemovePlan, RollbackPlan, ScalePlan } from "../plan/model.ts";
import { settingsFromEnv, withHostSettings, type HostSettings } from "../settings.ts";
import type { BuildOptions, BuiltImage } from "./build.ts";
import type { EnvDiff, EnvDifference } from "./diff.ts";
import type { ExportK8sOptions, ExportK8sResult, ExportNote, K8sObject } from "./export.ts";
import { EventHub, type EventListener } from "./events.ts";
import { gatherHistory, type History } from "./history.ts";
import { lockOn, type LockState } from "./lock.ts";
import type { HistoryQuery, MachineAnswer, TopView } from "./metrics.ts";
import type { Sample } from "../metrics/catalogue.ts";
import type { AlertsReport } from "./alerts.ts";
import { readLogs, type LogLine, type LogsOptions } from "./logs.ts";
import type { CheckRow, MachineLoad } from "./machines.ts";
import type { ProjectSource } from "./project.ts";
import { makeIdentity, secretsOf, type AgeIdentity, type SecretInfo, type SecretSet, type SecretsWrite, type SecretUnset } from "./secrets.ts";
import type { MachineSetupResult, SetupOptions } from "./setup.ts";
import type { CertsStatus } from "./certs.ts";
import type { CertResult } from "../exec/certs.ts";
import { allHealthy, gatherStatus, type MachineState } from "./status.ts";
import type { TrustOptions, TrustResult } from "./trust.ts";

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
  /** Aborting starts no new rollout wave; machines already switched go back to their previous release. */
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
  /** Go ahead when the deploy would stop an accessory (a database restarts on its volumes, or moves); without
   *  it such a deploy is refused before anything changes. */
  restartAccessories?: boolean;
}

/** Each machine's answer to `stopAccessory`/`startAccessory`; `ok`: none failed and one of them changed or
 *  already was as asked. */
export interface AccessoryResult {
  ok: boolean;
  machines: HoldOutcome[];
}

const accessoryResult = (machines: HoldOutcome[]): AccessoryResult => ({ ok: machines.every((m) => !m.reason || !m.changed) && machines.some((m) => m.instances > 0), machines });

export type { AppOutcome, DeployPhases, DeployPlan, RemovePlan, RollbackOutcome, RollbackPhases, RollbackPlan, RolloutResult, ScaleOutcome, ScalePlan };

/** `ok`: every app's rollout succeeded (or had nothing to do, or this was a dry run). */
export type DeployResult = DeployDone & { ok: boolean };

export interface RollbackOptions extends ChangeOptions {
  apps?: string[];
  /** Release to activate (default: the earlier one that served last, leaving out those rolled back from). */
  to?: number;
  /** Machines switched at a time (default: all). */
  maxParallel?: number;
  skipUnreachable?: boolean;
  /** Go ahead when an accessory (a database) is rolled back: it stops and the older release starts on the same
   *  volumes, a backup taken first when it has backups; without it such a rollback is refused before anything changes. */
  restartAccessories?: boolean;
}

export type RollbackResult = RollbackDone & { ok: boolean };

export interface RestartOptions extends ChangeOptions {
  /** Apps to restart (default: all). */
  apps?: string[];
  /** Only this machine's instances (default: every machine's). */
  machine?: string;
}

export type RestartResult = RestartDone & { ok: boolean };
export type { ExecOptions, ReachOptions, ReachResult, RestartOutcome, RestartPlan };
export type ScaleResult = ScaleDone & { ok: boolean };
export type RemoveResult = RemoveDone;

export interface ValidateResult {
  ok: true;
  project: string;
  environment: string | null;
  machines: string[];
  apps: string[];
}

export type { ExportK8sOptions, ExportK8sResult, ExportNote, K8sObject };

export type { AgeIdentity, BuildOptions, BuiltImage, EnvDiff, EnvDifference, SecretInfo, SecretSet, SecretsWrite, SecretUnset };

export type { CheckRow, History, LockState, MachineLoad, MachineSetupResult, MachineState, SetupOptions, TrustOptions, TrustResult };

export class Skiff {
  private readonly hub = new EventHub();
  private readonly settings: HostSettings;
  private readonly effects: PlanEffects | undefined;
  /** Where Skiff.open found the project: `diff` loads other environments from it. */
  private source: ProjectSource | undefined;

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
    check: (names: string[] = []): Promise<CheckRow[]> => this.run(async () => (await import("./machines.ts")).checkMachines(this.project, names)),
    /** Show machines' SSH host keys and record them in .skiff/known_hosts (`skiff machines trust`). */
    trust: (opts: TrustOptions = {}): Promise<TrustResult[]> => this.run(async () => (await import("./trust.ts")).trustMachines(this.project, opts)),
    /** Each machine's capacity and load, as placement of `app` sees it: for schedulers of your own. */
    load: (app: string): Promise<MachineLoad[]> => this.run(async () => (await import("./machines.ts")).machineLoads(this.project, app)),
  };

  /** Machine certificates for mutual TLS between machines, under the environment's CA (secrets/<environment>.mesh-ca.pem). */
  readonly certs = {
    /** The CA and, per machine, its certificate for this project, with what is wrong (none, another CA, expiring within 30 days) (`skiff certs status`). */
    status: (): Promise<CertsStatus> => this.run(async () => (await import("./certs.ts")).certsStatus(this.project)),
    /** A new key pair and certificate on every machine (or these), loaded live: no request fails (`skiff certs rotate`). Needs the CA key (your age key). */
    rotate: (opts: { machines?: string[] } & CallOptions = {}): Promise<CertResult[]> => this.run(async (reporter) => (await import("./certs.ts")).certsRotate(this.project, { machines: opts.machines, reporter }), opts),
  };

  /** Backups of the services that have `backups:` (`skiff backup`): each runs on the machines that run it. */
  readonly backups = {
    /** A backup now, on each machine that runs `name` (besides its schedule); recorded in history like those. */
    run: (name: string, opts: ChangeOptions = {}): Promise<BackupOutcome[]> => this.run(async (reporter) => (await import("../exec/backup-ops.ts")).runBackup(this.project, name, reporter), opts),
    /** Its snapshots in the repository, oldest first. */
    list: (name: string): Promise<Snapshot[]> => this.run(async () => (await import("../exec/backup-ops.ts")).listBackups(this.project, name)),
    /** Puts a snapshot (default: the newest) back into the live service, after a backup of what it replaces, or
     *  `into` another service (a scratch copy on the same machine; the source untouched, no backup first); under
     *  the deploy lock. A database through psql in its instance; volumes whole, the service held stopped meanwhile. */
    restore: (name: string, opts: ChangeOptions & { snapshot?: string; into?: string } = {}): Promise<RestoreOutcome> => this.run(async (reporter) => (await import("../exec/backup-ops.ts")).restoreBackup(this.project, name, { snapshot: opts.snapshot, into: opts.into, reporter }), opts),
    /** Reads a snapshot back completely (restic check, every byte decrypted), touching nothing live, and says what
     *  is in it: rows per table of a database, files and bytes of volumes. */
    verify: (name: string, opts: { snapshot?: string } = {}): Promise<(VerifyResult & { machine: string })[]> => this.run(async () => (await import("../exec/backup-ops.ts")).verifyBackup(this.project, name, opts)),
  };

  /** The project's alerts: firing, pending, and the notifications sent (`skiff alerts`). */
  readonly alerts = {
    list: (): Promise<AlertsReport> => this.run(async () => (await import("./alerts.ts")).alertsReport(this.project)),
  };

  /** The agents' metrics: each machine's Prometheus exposition, the live numbers, a scrape config. */
  readonly metrics = {
    /** Each machine's exposition (the project's series and the machine's own), over SSH (`skiff metrics`). */
    text: (opts: { machine?: string } = {}): Promise<MachineAnswer<{ text: string; at: number }>[]> => this.run(async () => (await import("./metrics.ts")).metricsText(this.project, opts)),
    /** Per machine and app: rates and levels over the agents' last sampling interval (`skiff top`). */
    current: (opts: { machine?: string } = {}): Promise<TopView> => this.run(async () => (await import("./metrics.ts")).metricsTop(this.project, opts)),
    /** Each machine's kept samples (24 h at 10 s), thinned to one per `stepMs`, of the named metrics only. */
    history: (q: HistoryQuery = {}): Promise<MachineAnswer<{ samples: Sample[] }>[]> => this.run(async () => (await import("./metrics.ts")).metricsHistory(this.project, q)),
    /** A Prometheus scrape config for the machines' /metrics endpoints (`skiff metrics --prometheus-config`). */
    prometheusConfig: (): Promise<string> => this.run(async () => (await import("./metrics.ts")).prometheusConfig(this.project)),
  };

  /** The environment's secrets (secrets/<environment>.age): values go in as arguments and come out only from `reveal`; no event or error carries one. */
  readonly secrets = {
    /** Secret names (never values) and the apps using each, sorted by name. */
    list: (): Promise<SecretInfo[]> => this.run(() => secretsOf(this.project).list()),
    /** Sets a secret (encrypted to secrets.recipients); the next deploy of apps that use it makes a new release. */
    set: (name: string, value: string): Promise<SecretSet> => this.run(() => secretsOf(this.project).set(name, value)),
    /** Removes a secret; `removed: false` (nothing written) when it was not set. */
    unset: (name: string): Promise<SecretUnset> => this.run(() => secretsOf(this.project).unset(name)),
    /** One secret's value, or undefined when it is not set. The caller asked for it: keep it out of logs. */
    reveal: (name: string): Promise<string | undefined> => this.run(() => secretsOf(this.project).reveal(name)),
    /** Re-encrypts with a new file key to exactly the recipients listed now. */
    rotateKey: (): Promise<SecretsWrite> => this.run(() => secretsOf(this.project).rotateKey()),
    /** Fails (UserError) unless you could read the file back after a write: check before asking a person for a value. */
    checkWriter: (): Promise<void> => this.run(() => secretsOf(this.project).checkWriter()),
    /** The environment's encrypted file (absolute path; it may not exist yet). */
    file: (): string => secretsOf(this.project).file(),
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
    const { openProject } = await import("./project.ts");
    const project = withHostSettings(settings, () => {
      try {
        return openProject(opts);
      } catch (e) {
        throw typedError(e);
      }
    });
    const skiff = new Skiff(project, { settings, onEvent: opts.onEvent });
    skiff.source = opts;
    return skiff;
  }

  /** Creates your age identity (the identity file, 0600; the host settings' ageIdentityFile or ~/.config/skiff/age-key.txt) unless there is one; either way its public key, for secrets.recipients. */
  static async keygen(opts: { settings?: HostSettings; env?: NodeJS.ProcessEnv } = {}): Promise<AgeIdentity> {
    const settings = { ...settingsFromEnv(opts.env ?? process.env), ...definedOnly(opts.settings ?? {}) };
    try {
      return await withHostSettings(settings, makeIdentity);
    } catch (e) {
      throw typedError(e);
    }
  }

  /** Adds a listener for progress events; returns the function that removes it. */
  on(what: "event", fn: EventListener): () => void {
    void what; // one kind of event today; the name leaves room for more
    return this.hub.add(fn);
  }

  /** Builds, ships and rolls out a new release of each app with zero downtime; the result holds the plan it carried out. */
  deploy(opts: DeployOptions = {}): Promise<DeployResult> {
    return this.run(async (reporter, interrupted) => {
      const done = await (await import("../exec/deploy.ts")).deploy(this.project, { apps: opts.apps ?? [], skipUnreachable: opts.skipUnreachable, waitForLock: opts.waitForLock, dryRun: opts.dryRun, restartAccessories: opts.restartAccessories, reporter, interrupted, effects: this.effects });
      return { ...done, ok: done.outcomes.every((o) => o.result.ok) };
    }, opts);
  }

  /** What `deploy` would do now, per app and machine (the same plan deploy carries out); reads only, no lock. */
  plan(opts: { apps?: string[]; skipUnreachable?: boolean } = {}): Promise<DeployPlan> {
    return this.run(async () => (await import("../exec/plan.ts")).plan(this.project, { apps: opts.apps ?? [], skipUnreachable: opts.skipUnreachable, effects: this.effects }));
  }

  /** Activates an older release, whole (image and config), through the same safe sequence. */
  rollback(opts: RollbackOptions = {}): Promise<RollbackResult> {
    return this.run(async (reporter, interrupted) => {
      const done = await (await import("../exec/rollback.ts")).rollback(this.project, { apps: opts.apps ?? [], to: opts.to, maxParallel: opts.maxParallel, skipUnreachable: opts.skipUnreachable, dryRun: opts.dryRun, restartAccessories: opts.restartAccessories, reporter, interrupted, effects: this.effects });
      return { ...done, ok: done.outcomes.every((a) => a.result.ok) };
    }, opts);
  }

  /** A new release of the active one with these instance counts ({ web: 4 }), placed over each app's machines. */
  scale(targets: Record<string, number>, opts: ChangeOptions = {}): Promise<ScaleResult> {
    return this.run(async (reporter, interrupted) => {
      const done = await (await import("../exec/scale.ts")).scale(this.project, Object.entries(targets).map(([app, instances]) => ({ app, instances })), { dryRun: opts.dryRun, reporter, interrupted, effects: this.effects });
      return { ...done, ok: done.outcomes.every((a) => a.result.ok) };
    }, opts);
  }

  /** New instances of each app's active release in place of the running ones, with a deploy's safety: under the
   *  deploy lock, in the app's rollout waves, each started first, gated on health, the old drained; recorded in
   *  history as "restart". */
  restart(opts: RestartOptions = {}): Promise<RestartResult> {
    return this.run(async (reporter, interrupted) => {
      const done = await (await import("../exec/restart.ts")).restart(this.project, { apps: opts.apps ?? [], machine: opts.machine, dryRun: opts.dryRun, reporter, interrupted });
      return { ...done, ok: done.outcomes.every((a) => a.result.ok) };
    }, opts);
  }

  /** Runs `command` (argv) in a running instance of `app` (a container: the Engine's exec; a process: its user,
   *  env, working directory and cgroup) with this process's stdout and stderr, and stdin when `interactive`;
   *  resolves with where it ran and its exit code. */
  exec(app: string, command: string[], opts: ExecOptions = {}): Promise<ReachResult> {
    return this.run(async () => (await import("./reach.ts")).execIn(this.project, app, command, opts));
  }

  /** Runs `command` (argv) in a one-off instance of `app`'s active release (image or artifact, env, secrets,
   *  files, volumes), attached like `exec`, and removes it after, also when `signal` aborts. */
  runOneOff(app: string, command: string[], opts: ReachOptions = {}): Promise<ReachResult> {
    return this.run(async () => (await import("./reach.ts")).runOneOff(this.project, app, command, opts));
  }

  /** Holds an accessory stopped on its machine: out of HAProxy, stopped, never restarted (also after an agent
   *  restart) until `startAccessory` or a new release. Under the deploy lock; recorded in history as "stop". */
  stopAccessory(name: string, opts: ChangeOptions = {}): Promise<AccessoryResult> {
    return this.run(async (reporter) => accessoryResult(await (await import("../exec/accessory.ts")).holdAccessory(this.project, name, true, reporter)), opts);
  }

  /** Starts a held accessory's instance again (the same one, on the same volumes) and waits for its health check;
   *  recorded in history as "start". */
  startAccessory(name: string, opts: ChangeOptions = {}): Promise<AccessoryResult> {
    return this.run(async (reporter) => accessoryResult(await (await import("../exec/accessory.ts")).holdAccessory(this.project, name, false, reporter)), opts);
  }

  /** Stops apps on every machine and deletes their releases (history stays). No confirmation: the call is the intent. */
  remove(apps: string[], opts: ChangeOptions = {}): Promise<RemoveResult> {
    return this.run(async () => (await import("../exec/remove.ts")).remove(this.project, { apps, dryRun: opts.dryRun, effects: this.effects }), opts);
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

  /** What the apps printed (or HAProxy's requests, or the agents' own logs), merged across machines in time
   *  order, filtered on the machines (`skiff logs`); with `follow`, goes on until `signal` aborts. */
  logs(opts: LogsOptions = {}): AsyncGenerator<LogLine> {
    return readLogs(this.project, opts);
  }

  /** Prepares machines: Docker, HAProxy, Node and the agent (idempotent); with dryRun, only says what it would do. */
  setup(opts: SetupOptions & CallOptions = {}): Promise<MachineSetupResult[]> {
    return this.run(async (reporter) => (await import("./setup.ts")).setupProject(this.project, opts, reporter), opts);
  }

  /** Builds the images of apps with a build section (tag: git commit; an existing tag is not built again), as `skiff build` does. */
  build(opts: BuildOptions = {}): Promise<BuiltImage[]> {
    return this.run(async (reporter) => (await import("./build.ts")).buildProject(this.project, opts, reporter));
  }

  /**
   * How two environments of this project differ: machines, and per app its config. `diff("prod")` compares this
   * Skiff's environment with prod; `{ a, b }` any two ("default" is the base config). Secret values are compared
   * when both decrypt here and never returned.
   */
  diff(other: string | { a: string; b: string }): Promise<EnvDiff> {
    return this.run(async () => {
      const [a, b] = typeof other === "string" ? [this.project.environment ?? "default", other] : [other.a, other.b];
      const load = (env: string) => (env === (this.project.environment ?? "default") ? this.project : this.load(env));
      const { diffEnvironments } = await import("./diff.ts");
      return diffEnvironments(await load(a), await load(b), { from: a, to: b });
    });
  }

  /** The same project in another environment, from where this one came. */
  private async load(environment: string): Promise<Project> {
    const env = environment === "default" ? undefined : environment;
    const { OBJECT_SOURCE, openProject } = await import("./project.ts");
    if (this.source) return openProject({ ...this.source, environment: env });
    if (this.project.file.endsWith(`/${OBJECT_SOURCE}`)) throw new UserError("this Skiff was made from a config object without Skiff.open: it cannot load another environment of it", { hint: "open it with Skiff.open({ config })" });
    return openProject({ config: this.project.file, dir: this.project.dir, environment: env });
  }

  /** The project (this environment) as Kubernetes manifests (`skiff export k8s`): per app a Deployment, Service,
   *  Ingress, ConfigMaps, claims and a pre-deploy Job; per accessory a StatefulSet and Service; the secrets as
   *  keys with empty values unless `includeSecrets`. Changes nothing; `notes` say what does not carry over
   *  (docs/moving-to-kubernetes.md). */
  exportK8s(opts: ExportK8sOptions = {}): Promise<ExportK8sResult> {
    return this.run(async () => (await import("./export.ts")).exportProject(this.project, opts));
  }

  /** Checks the config file and every environment overlay in it (a config object was checked when opened). */
  validate(): Promise<ValidateResult> {
    return this.run(async () => {
      if (!this.project.file.endsWith("/config object")) (await import("../config/load.ts")).validateEverywhere({ file: this.project.file });
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
