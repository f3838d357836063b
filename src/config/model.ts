import type { PlacementFunction } from "./placement.ts";
// The normalized project the rest of skiff works with: defaults applied,
// durations in milliseconds, one environment resolved.

export interface MachineSpec {
  name: string;
  /** `local` means this machine, without SSH. */
  host: string;
  local: boolean;
  port?: number;
  user: string;
  identityFile?: string;
  proxyJump?: string;
  sshOptions: Record<string, string>;
  labels: string[];
  privateAddress?: string;
  /** The public HTTP frontend's port on this machine. */
  httpPort: number;
  /** The public HTTPS frontend's port on this machine (used when a route has tls). */
  httpsPort?: number;
  /** false: skiff's nftables table does not guard this machine's private ports (docs/networking.md, Firewall). */
  firewall?: boolean;
}

export interface HealthSpec {
  /** HTTP path checked; absent (TCP apps without one): the check is a TCP connect. */
  path?: string;
  intervalMs: number;
  timeoutMs: number;
  healthyThreshold: number;
  deadlineMs: number;
}

export interface AppSpec {
  name: string;
  /** An accessory (skiff.yml `accessories:`): one instance on this machine, replaced stop-first. */
  accessory?: { machine: string };
  /** The signal that asks an instance to stop, when not SIGTERM (accessories: Postgres wants SIGINT). */
  stopSignal?: string;
  /** Scheduled backups (skiff.yml `backups`). */
  backups?: BackupSpec;
  image?: string;
  build?: { context: string; dockerfile: string; args: Record<string, string> };
  /** Process app: the command line; such an app has no image. */
  run?: string;
  /** Process app: the directory to ship (absolute), and a command that makes it. */
  artifact?: { dir: string; build?: string };
  user?: string;
  resources: { cpus?: number; memoryBytes?: number };
  port: number;
  /** What the app speaks: "http" (names on port 80, public routes) or "tcp" (names on internalPort). */
  protocol: "http" | "tcp";
  /** TCP apps: the port its internal names serve on (default: port). */
  internalPort?: number;
  /** Instances in all; undefined: one per eligible machine. */
  instances?: number;
  placement: { machines?: string[]; labels: string[]; strategy: "spread" | "binpack" };
  /** skiff.config.ts: a custom placement function (checked like the built-in strategies' results). */
  place?: PlacementFunction;
  health: HealthSpec;
  routes: AppRoute[];
  env: Record<string, string>;
  hooks: { preDeploy?: string; timeoutMs: number };
  /** skiff.yml `logs.max_size` in bytes; absent: the agent's default. */
  logMaxBytes?: number;
  /** Files from the repository (absolute `source`) placed at `path` in each instance. */
  files: { path: string; source: string; mode: number; template: boolean }[];
  volumes: { name: string; path: string }[];
  /** ENV_NAME → secret name, from secrets/<environment>.age. */
  secrets: Record<string, string>;
  /** maxParallel: machines (or a share of them, "25%") per wave after the canary wave of `canary` machines,
   *  whose new instances are watched canaryWaitMs before the next wave. */
  deploy: { maxParallel: MaxParallel; canary: number; canaryWaitMs: number; drainMs: number; stopTimeoutS: number; keepWarm: boolean; keepReleases: number; probationMs: number };
}

/** Where backups go: another machine of the project (over SFTP), a directory on the service's machine, or S3. */
export type BackupTo = { kind: "machine"; machine: string; path?: string } | { kind: "dir"; path: string } | { kind: "s3"; url: string };

export interface BackupSpec {
  kind: "postgres" | "redis" | "volumes";
  /** Cron (croner): 5 fields, or 6 with seconds first. */
  schedule: string;
  keep: { last?: number; daily?: number; weekly?: number; monthly?: number };
  to: BackupTo;
  /** The secret whose value encrypts the repository. */
  passwordSecret: string;
}

/** deploy.max_parallel: a number of machines, or a share of the app's machines ("25%"). */
export type MaxParallel = number | `${number}%`;

/** Where the agents serve /metrics when skiff.yml says `metrics: { listen: true }` and names no port. */
export const DEFAULT_METRICS_PORT = 9465;

export interface Project {
  name: string;
  /** Absolute path of skiff.yml. */
  file: string;
  /** Directory holding skiff.yml; state such as known_hosts lives in `<dir>/.skiff`. */
  dir: string;
  environment?: string;
  machines: Record<string, MachineSpec>;
  apps: Record<string, AppSpec>;
  secrets: { recipients: string[] };
  /** /metrics on the machines' private addresses for a scraper (absent: not served over HTTP). */
  metrics?: { port: number; allow: string[] };
  /** Where `tls: auto` routes get certificates (always set: Let's Encrypt unless skiff.yml says otherwise). */
  acme: AcmeSpec;
  /** Alert rules and receivers (absent: `alerts: { enabled: false }`). */
  alerts?: AlertsSpec;
}

/** The rules switched on, with their thresholds (shares as 0..1, times in ms). */
export interface AlertRulesSpec {
  errorRate?: { above: number; forMs: number; windowMs: number; minRequests: number };
  latencyP95?: { aboveMs: number; forMs: number; windowMs: number; minRequests: number };
  restarts?: { above: number; withinMs: number };
  oom?: { withinMs: number };
  disk?: { above: number; forMs: number };
  memory?: { above: number; forMs: number };
  machineDown?: { forMs: number };
  deployFailed?: Record<string, never>;
  backupFailed?: Record<string, never>;
  certificate?: { days: number };
}

/** A receiver; a webhook's URL is either in skiff.yml or in a secret (resolved when the machines are told). */
export type AlertReceiverSpec = { kind: "webhook"; url: string; format: "json" | "slack" } | { kind: "webhook"; secret: string; format: "json" | "slack" } | { kind: "command"; argv: string[] };

export interface AlertsSpec {
  intervalMs: number;
  rules: AlertRulesSpec;
  receivers: AlertReceiverSpec[];
}

export interface AcmeSpec {
  directory: string;
  email?: string;
  /** Absolute path of a CA (PEM) to trust for the directory's HTTPS (a private ACME server). */
  caFile?: string;
}

/** A route's HTTPS: a certificate from the repository (absolute `cert`) and its key from the secrets (`key` names
 *  it), or `auto` (ACME, on the machines); `hstsS`: the Strict-Transport-Security max-age, when asked for. */
export type RouteTlsSpec = { auto?: undefined; cert: string; key: string; hstsS?: number } | { auto: true; hstsS?: number };

export interface AppRoute {
  host?: string;
  path: string;
  tls?: RouteTlsSpec;
}
