// What the CLI sends the agent and what the agent keeps, shared by both sides.
import type { HealthSpec } from "../config/model.ts";

/** What runs an app's instances. */
export type RuntimeKind = "docker" | "process";

/** cpu and memory limits of one instance. */
export interface Limits {
  memoryBytes?: number;
  /** CPUs, e.g. 0.5 or 2. */
  cpus?: number;
}

/** One app's full spec at one release: immutable once stored. */
export interface ReleaseSpec {
  project: string;
  app: string;
  release: number;
  /** What runs the instances; absent in releases from before the process runtime: docker. */
  runtime?: RuntimeKind;
  /** Image reference as built or written (repo:tag); for a process app, "artifact <hash>" or "none". */
  image: string;
  /** Image ID (sha256:…) — what actually runs; for a process app "artifact:<sha256>" or "none". */
  imageId: string;
  /** Process app: the command line (`run:`), run by sh in the release's working directory. */
  command?: string;
  /** Process app: the user it runs as. */
  user?: string;
  /** cpu and memory limits per instance. */
  limits?: Limits;
  port: number;
  /** "tcp": a plain TCP app, reached at APP.internal:internalPort (no routes); absent: HTTP. */
  protocol?: "tcp";
  /** TCP apps: the port the app's internal names serve on. */
  internalPort?: number;
  /** Instances in all (with placement), or on each machine (releases from before placement). */
  instances: number;
  /** Instances per machine; a machine not named runs none. */
  placement?: Record<string, number>;
  env: Record<string, string>;
  /** Secret values by env name: only in this file (0600) and in the instances' environment. */
  secrets?: Record<string, string>;
  /** Files placed in each instance (content base64; may hold secret values: this file is 0600). */
  files?: { path: string; mode: number; content: string }[];
  /** Set on the copy kept by a machine that runs none of the app: `secrets` and `files` were left out (only
   *  machines with instances get them); the digest keeps both copies one release. */
  withheld?: { digest: string };
  /** Named volumes: one per app and machine, kept across releases. */
  volumes?: { name: string; path: string }[];
  /** Run once per deploy in a one-off instance before traffic moves. */
  preDeploy?: { command: string; timeoutMs: number };
  health: HealthSpec;
  /** `tls`: the route is served over HTTPS too (its certificate travels apart: RPC tls.set), `hstsS` the HSTS max-age. */
  routes: { host?: string; path: string; tls?: { hstsS?: number } }[];
  drainMs: number;
  stopTimeoutS: number;
  keepReleases: number;
  /** What the app's kept logs may take on each machine (skiff.yml `logs.max_size`); absent: the default, 50 MiB. */
  logs?: { maxBytes: number };
  /** How long the outgoing release stays as backup after a switch (unless keep_warm). */
  probationMs: number;
  /** An accessory's: the old instance stops before the new one starts (one data directory, never two owners);
   *  a new one that fails brings the old one back. Absent for apps (start-first). */
  stopFirst?: true;
  /** The signal that asks an instance to stop; absent: SIGTERM. */
  stopSignal?: string;
  git?: { commit: string; dirty: boolean };
  createdBy: string;
  createdAt: string;
}

export interface InstanceRecord {
  /** Container name (skiff-<project>-<app>-<release>-<id>). */
  name: string;
  release: number;
  runtime?: RuntimeKind;
  /** Address the host port is published on (the machine's private address, or loopback). */
  bindAddress?: string;
  hostPort: number;
  /** HAProxy server slot (s1…), once it has one. */
  slot?: string;
  startedAt: string;
  restarts: number;
  lastExit?: { code: number | null; oomKilled: boolean; at: string; reason: string };
}

export interface AppState {
  project: string;
  app: string;
  active: number | null;
  instances: InstanceRecord[];
  /** The previous release's instances, still running in HAProxy backup slots: they take traffic only if
   *  every active instance is down, and make a rollback a pure traffic flip. */
  warm: InstanceRecord[];
  /** When the warm instances stop (ISO time); null keeps them until the next deploy (keep_warm). */
  warmUntil?: string | null;
  /** Instances started by an activation not yet finished (removed on agent start). */
  pending: InstanceRecord[];
  /** Instances out of traffic and of every slot, being stopped after an activation answered (removed on agent
   *  start if that was cut short). */
  retiring?: InstanceRecord[];
  /** Held stopped (`skiff accessory stop`): its instances are stopped and out of HAProxy, and stay so (no
   *  restarts) until `start` or a new release. */
  held?: { at: string; by?: string };
}

export type HistoryResult = "ok" | "failed" | "rolled back" | "unchanged";

export interface HistoryEntry {
  at: string;
  machine: string;
  project: string;
  app: string;
  release: number;
  action: "deploy" | "rollback" | "restart" | "pre_deploy" | "scale" | "stop" | "start" | "backup" | "restore";
  result: HistoryResult;
  reason?: string;
  deployId?: string;
  by?: string;
  durationMs?: number;
  /** Where the time went (an activation's steps, or a whole command's: see ActivationPhases, DeployPhases). */
  phases?: Record<string, number>;
  /** A whole command's record (written by the CLI at its end), not one machine's part: its durationMs is the
   *  command's wall time, from the lock to the last switch. */
  summary?: boolean;
  image?: string;
  imageId?: string;
  commit?: string;
  /** A backup's (or a restore's) snapshot, bytes read, bytes the repository grew by, snapshots the policy removed. */
  backup?: { snapshot: string; bytes?: number; added?: number; forgot?: number };
}

/** A record that says its release served (an ok deploy, rollback or scale): what a rollback may go back to. */
export const servedBy = (e: Pick<HistoryEntry, "action" | "result">): boolean => e.result === "ok" && (e.action === "deploy" || e.action === "rollback" || e.action === "scale");

export interface LockInfo {
  holder: string;
  host: string;
  pid: number;
  command: string;
  since: string;
  heartbeat: string;
}

/** Instances of a release on one machine: its share of the placement (releases from before placement: `instances` on each). */
export const localCount = (spec: ReleaseSpec, machine: string): number => (spec.placement ? (Object.hasOwn(spec.placement, machine) ? spec.placement[machine]! : 0) : spec.instances);
