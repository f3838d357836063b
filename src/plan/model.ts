// A plan is what a change will do, as data: per app and machine, the release
// before and after, the instances started and stopped, what differs (secret
// values and file contents never: only that they changed), what is shipped,
// the hook that runs and the rollout batches. `skiff plan` and every
// `--dry-run` print one; the executors carry the same object out. It holds no
// secret value and no file content, so it can be printed, logged and kept.
import type { MaxParallel } from "../config/model.ts";
import type { RuntimeKind } from "../contracts/model.ts";
import type { Change } from "./diff.ts";
import type { NameChange } from "./names.ts";

export type { Change, MaxParallel, NameChange };

/** One machine's part of an app's change. */
export interface MachineChange {
  machine: string;
  /** Release active there now (null: the app runs nothing there). */
  from: number | null;
  /** Instances of the target release started there (0 when nothing changes there). */
  start: number;
  /** Instances of the release active now that stop there (0 when nothing changes there). */
  stop: number;
  /** What differs from the release active there; empty: nothing changes there. */
  changes: Change[];
}

/** The image (docker) or artifact (process app) a deploy runs, and what it takes to get it there. */
export interface ArtifactPlan {
  /** repo:tag, "artifact <hash>", or "none". */
  ref: string;
  runtime: RuntimeKind;
  /** Its ID (sha256:… or artifact:<hash>) when known before the build. */
  id?: string;
  /** Built by this deploy (no such image here yet, or an artifact's build command runs). */
  build: boolean;
  /** Machines that already hold it (only where it was cheap to ask: plan and --dry-run). */
  present?: string[];
  note?: string;
}

export interface HookPlan {
  /** The pre_deploy hook runs once, here, in a one-off instance of the new release, before traffic moves. */
  machine: string;
  command: string;
}

export interface AppDeployPlan {
  app: string;
  /** The release every machine ends on: an existing identical one (reused), the next number, or "new" when
   *  that depends on the image the build makes (its number is chosen after the build). */
  release: number | "new";
  reused: boolean;
  image: ArtifactPlan;
  /** Instances per machine. */
  placement: Record<string, number>;
  machines: MachineChange[];
  hook?: HookPlan;
  /** The rollout's waves: machines switched together, wave after wave (the canary wave first; deploy.max_parallel). */
  batches: string[][];
  /** deploy.canary_wait: how long the canary wave is watched before the next one (absent: not). */
  canaryWaitMs?: number;
  /** Internal names this deploy adds (the app's first) or changes (its protocol or TCP port); absent: none. */
  names?: NameChange[];
  /** HTTPS certificates its tls routes get (sent to every machine at each deploy). */
  certs?: CertPlan[];
  /** An accessory: its machine, and whether this deploy stops it (a restart on the same volumes, or a move to
   *  another machine, where its volumes are not): a deploy does that only when asked (--yes). */
  accessory?: { machine: string; restarts: boolean; movesFrom?: string[]; /** Its backups' kind: the data follows a move. */ dataFollows?: "postgres" | "redis" | "volumes" };
}

/** A route certificate as the plan shows it: never its key. */
export type CertPlan = RepoCertPlan | AcmeCertPlan;

export interface RepoCertPlan {
  hosts: string[];
  source: "repo";
  file: string;
  notAfter: string;
}

/** tls: auto: `issue` when none of the app's machines serves a valid one (the deploy orders it); `served`: the
 *  machines that do, and until when; `account`: the project's ACME account key file, when it is to be made. */
export interface AcmeCertPlan {
  hosts: string[];
  source: "acme";
  directory: string;
  issue: boolean;
  served: { machine: string; notAfter: string }[];
  account?: string;
}

export interface DeployPlan {
  action: "deploy";
  project: string;
  apps: AppDeployPlan[];
  /** Unreachable machines left out (--skip-unreachable). */
  skipped: string[];
  /** Machines whose firewall the deploy changes first, and what it becomes (printed plans only). */
  firewall?: { machine: string; change: string }[];
}

export interface AppRollbackPlan {
  app: string;
  to: number;
  /** "previous good": the earlier release that served last and was not rolled back from; "asked": --to. */
  chosen: "previous good" | "asked";
  /** Earlier releases a plain rollback left out: rolled back from (or a deploy's switch undone) since they served. */
  passedOver?: number[];
  machines: MachineChange[];
  batches: string[][];
  /** Internal names the target release serves differently (another TCP port or protocol); absent: none. */
  names?: NameChange[];
}

export interface RollbackPlan {
  action: "rollback";
  project: string;
  apps: AppRollbackPlan[];
  skipped: string[];
}

export interface AppScalePlan {
  app: string;
  /** Instances in all, before and after. */
  from: number;
  to: number;
  release: number;
  reused: boolean;
  placement: Record<string, number>;
  machines: MachineChange[];
  batches: string[][];
}

export interface ScalePlan {
  action: "scale";
  project: string;
  apps: AppScalePlan[];
  skipped: string[];
}

/** What goes from one machine: its instances of the app, its releases (and their images or artifacts). */
export interface MachineRemoval {
  machine: string;
  active: number | null;
  instances: number;
  releases: number[];
}

export interface RemovePlan {
  action: "remove";
  project: string;
  /** names: the internal names that go with the app (absent: it is on no machine). */
  apps: { app: string; machines: MachineRemoval[]; names?: NameChange[] }[];
  skipped: string[];
}

export type Plan = DeployPlan | RollbackPlan | ScalePlan | RemovePlan;

/** Machines of an app where something changes, summed over apps (`skiff plan` exits 2 when any). */
export function changeCount(plan: Plan): number {
  if (plan.action === "remove") return plan.apps.reduce((n, a) => n + a.machines.filter((m) => m.active !== null || m.releases.length || m.instances).length, 0);
  const firewall = plan.action === "deploy" ? (plan.firewall?.length ?? 0) : 0;
  // A certificate to issue is a change of its own (a re-run with the same release still orders it).
  const issue = plan.action === "deploy" ? plan.apps.reduce((n, a) => n + (a.certs ?? []).filter((c) => c.source === "acme" && c.issue).length, 0) : 0;
  return firewall + issue + (plan.apps as { machines: MachineChange[] }[]).reduce((n, a) => n + a.machines.filter((m) => m.changes.length).length, 0);
}

/** Machines in rollout order, `size` at a time. */
export function batches(machines: string[], size: number): string[][] {
  const out: string[][] = [];
  for (let i = 0; i < machines.length; i += Math.max(1, size)) out.push(machines.slice(i, i + Math.max(1, size)));
  return out;
}


/** Machines per wave for a fleet of n: a share is rounded up (never 0), a count is at most n. */
export function waveSize(max: MaxParallel, n: number): number {
  if (typeof max === "number") return Math.max(1, Math.min(max, Math.max(1, n)));
  const pct = Number(max.slice(0, -1));
  return Math.max(1, Math.ceil((pct / 100) * n - 1e-9));
}

/** The rollout's waves: the canary wave first (`canary` machines that run instances of the app, alone, so a release
 *  that fails its health gate stops there, having touched one machine), then the rest `max_parallel` at a time.
 *  Machines that run instances come first; machines placed to run none of the app (their HAProxy only learns the
 *  peers) come last. `max_parallel: 1` is one machine at a time, as before (a canary wave changes nothing there). */
export function rolloutWaves(machines: string[], max: MaxParallel, canary: number, runs: (machine: string) => boolean = () => true): string[][] {
  const ordered = [...machines.filter(runs), ...machines.filter((m) => !runs(m))];
  const size = waveSize(max, ordered.length);
  const first = Math.min(canary, machines.filter(runs).length);
  if (first < 1 || size <= first) return batches(ordered, size);
  return [ordered.slice(0, first), ...batches(ordered.slice(first), size)];
}
