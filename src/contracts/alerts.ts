// Alerts: what the CLI tells each agent (the project's rules, receivers and
// machines: `alerts.set`), what a machine tells its peers each round over the
// mesh (its facts and its copy of the ledger), and the ledger itself (the
// alerts pending and firing, and the notifications with their deliveries).
// The agents evaluate and send with no CLI connected: see agent/alerts.ts.
import { createHash } from "node:crypto";
import * as z from "zod/mini";
import { nameSchema } from "./activate.ts";

const opt = z.optional;
const ms = z.number().check(z.minimum(0));
const fraction = z.number().check(z.minimum(0), z.maximum(1));

/** The rules, each absent when switched off (skiff.yml `alerts.rules.NAME: false`). */
export const alertRules = z.object({
  /** 5xx responses over requests, all machines together, over `windowMs`, above `above` for `forMs`. */
  errorRate: opt(z.object({ above: fraction, forMs: ms, windowMs: ms, minRequests: z.int().check(z.minimum(0)) })),
  /** The app's 95th percentile response time over `windowMs`, above `aboveMs` for `forMs`. */
  latencyP95: opt(z.object({ aboveMs: ms, forMs: ms, windowMs: ms, minRequests: z.int().check(z.minimum(0)) })),
  /** More than `above` restarts of the app's instances (all machines) within `withinMs`. */
  restarts: opt(z.object({ above: z.int().check(z.minimum(0)), withinMs: ms })),
  /** An instance of the app killed for lack of memory within `withinMs`. */
  oom: opt(z.object({ withinMs: ms })),
  /** A machine's disk (the filesystems of / and skiff's state) fuller than `above` for `forMs`. */
  disk: opt(z.object({ above: fraction, forMs: ms })),
  memory: opt(z.object({ above: fraction, forMs: ms })),
  /** A machine its peers cannot reach (its agent over the mesh) for `forMs`. */
  machineDown: opt(z.object({ forMs: ms })),
  /** The app's last deploy failed, or it was rolled back: firing until a deploy succeeds. */
  deployFailed: opt(z.object({})),
  /** The service's last backup failed (on any machine): firing until one succeeds. */
  backupFailed: opt(z.object({})),
  /** An HTTPS certificate of the project ends within `days`, or its tls: auto renewal fails. */
  certificate: opt(z.object({ days: z.number().check(z.minimum(1), z.maximum(365)) })),
});
export type AlertRules = z.infer<typeof alertRules>;
export type AlertRuleName = keyof AlertRules;

export const alertReceiver = z.union([
  /** JSON POSTed to `url`; `slack`: the body is Slack's incoming-webhook shape ({"text": …}). */
  z.object({ kind: z.literal("webhook"), url: z.string().check(z.regex(/^https?:\/\//), z.maxLength(2048)), format: z.enum(["json", "slack"]) }),
  /** Run on the sending machine (argv, no shell) with the JSON on stdin; exit 0 means delivered. */
  z.object({ kind: z.literal("command"), argv: z.array(z.string().check(z.minLength(1))).check(z.minLength(1), z.maxLength(64)) }),
]);
export type AlertReceiver = z.infer<typeof alertReceiver>;

/** A receiver's identity in the ledger: a digest of what it is (its URL never stored twice, nor shown). */
export const receiverId = (r: AlertReceiver): string => createHash("sha256").update(JSON.stringify(r)).digest("hex").slice(0, 12);

/** One project's alerting, as the CLI tells each machine (the same for all but `self`). */
export const alertsConfig = z.object({
  project: nameSchema,
  environment: opt(nameSchema),
  /** This machine's name in the project. */
  self: nameSchema,
  /** The project's machines, in rank order: the first one that a machine can reach sends (leader). */
  machines: z.array(z.object({ name: nameSchema, addr: opt(z.string().check(z.maxLength(45))) })).check(z.maxLength(1000)),
  /** The project's apps (in this environment): a deploy record of an app no longer here is not alerted on. */
  apps: z.array(nameSchema).check(z.maxLength(1000)),
  rules: alertRules,
  receivers: z.array(alertReceiver).check(z.maxLength(20)),
  /** How often the agents evaluate (and peers ask each other). */
  intervalMs: z.number().check(z.minimum(1000), z.maximum(600_000)),
});
export type AlertsConfig = z.infer<typeof alertsConfig>;

/** What one machine saw over the windows its rules name: the leader adds these up. */
export interface MachineFacts {
  machine: string;
  /** Unix ms of the newest sample these come from. */
  t: number;
  /** Used share of each filesystem (by path). */
  disk: { path: string; used: number }[];
  memoryUsed?: number;
  apps: Record<string, AppFacts>;
  /** Per app, the newest whole-command record (deploy, rollback, restart) this machine holds. */
  lastCommand: Record<string, CommandFact>;
  /** Per service, the newest backup run this machine made (absent: an agent that does not say). */
  /** `lastFailure`: the newest failed run, also when a good one came after it; `agoMs`: how long before this answer
   *  it was, by this machine's own clock (the leader's may differ). */
  lastBackup?: Record<string, { at: string; result: string; reason?: string; snapshot?: string; lastFailure?: { at: string; reason?: string; agoMs?: number } }>;
  /** The project's HTTPS certificates this machine serves or renews (absent: an agent that does not say). */
  certs?: CertFact[];
}

export interface CertFact {
  id: string;
  hosts: string[];
  /** ISO 8601; absent: nothing served yet. */
  notAfter?: string;
  /** A tls: auto renewal failing: since when, and its last error. */
  failing?: { since?: string; error?: string };
}

export interface AppFacts {
  /** Over the error-rate window; `windowMs`: how much of it the samples cover. */
  requests: number;
  errors: number;
  windowMs: number;
  /** Within the restarts window, by instance. */
  restarts: Record<string, number>;
  oomKills: Record<string, number>;
  /** Response-time histogram over the latency window: cumulative counts by upper bound (s), when known. */
  latency?: { le: number; count: number }[];
}

export interface CommandFact {
  at: string;
  action: string;
  result: string;
  release: number;
  by?: string;
  reason?: string;
}

export type AlertStatus = "firing" | "resolved";

/** An alert being watched: pending (its condition holds, not yet for long enough) or firing (sent). */
export interface ActiveAlert {
  key: string;
  rule: AlertRuleName;
  labels: Record<string, string>;
  summary: string;
  value?: number;
  state: "pending" | "firing";
  /** Unix ms: the condition has held since. */
  since: number;
  firedAt?: number;
}

/** A notification: firing or resolved, and what each receiver made of it. */
export interface AlertEvent {
  id: string;
  key: string;
  rule: AlertRuleName;
  status: AlertStatus;
  at: number;
  summary: string;
  labels: Record<string, string>;
  value?: number;
  /** The machine that decided it. */
  by: string;
  /** Per receiver (receiverId: a receiver changed or gone in skiff.yml is not sent to): delivered or the tries so far. */
  deliveries: { receiver: string; deliveredAt?: number; attempts: number; nextAt?: number; error?: string; gaveUp?: boolean }[];
}

/** One project's alerting state, replicated: every machine keeps the newest copy it has seen (highest version). */
export interface Ledger {
  version: number;
  /** The machine that wrote this version. */
  by: string;
  active: Record<string, ActiveAlert>;
  /** Newest last; bounded (undelivered events are kept first). */
  events: AlertEvent[];
}

export const emptyLedger = (): Ledger => ({ version: 0, by: "", active: {}, events: [] });

/** A peer's answer to `GET /alerts?have=V`: its facts, and its ledger when newer than V. */
export interface PeerAnswer {
  machine: string;
  version: number;
  /** Who the answering machine found leading in its last round (absent: an older agent, or none yet). */
  leader?: string;
  facts?: MachineFacts;
  ledger?: Ledger;
}

/** What `alerts.get` says: the config (receivers by kind and host only), who leads, which peers are missed since
 *  when, when the last round ran, and the ledger. */
export interface AlertsView {
  config?: Omit<AlertsConfig, "receivers"> & { receivers: string[] };
  leader?: string;
  missing: Record<string, string>;
  lastRound?: string;
  ledger: Ledger;
}

/** The mesh name under which a project's machines ask each other for alert facts (a label no app can take). */
export const alertShareSni = (project: string) => `0-alerts.${project}.internal`;

/** The project an alert share's name is for (undefined: not such a name). */
export const alertShareProject = (sni: string): string | undefined => /^0-alerts\.([a-z][a-z0-9-]*)\.internal$/.exec(sni)?.[1];
