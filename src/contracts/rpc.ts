// Every agent RPC method: its parameters and its result, as zod schemas (the
// config's schema library). The agent checks parameters at the boundary
// (parseParams) before any work; both sides take their types from here.
import type { BackupJob, BackupRun, Snapshot } from "./backups.ts";
import * as z from "zod/mini";
// Only English: "zod/locales" would bundle every language (~360 KB in the CLI and in the agent).
import en from "zod/v4/locales/en.js";
import type { HistoryEntry, LockInfo, ReleaseSpec } from "./model.ts";
import { activateParamsSchema, activateResultSchema, instanceListSchema, jobIdSchema, nameSchema, releaseNumber } from "./activate.ts";
import { agentInfoSchema } from "./agent-info.ts";
import { firewallEntry, firewallSetResult, firewallStatus } from "./firewall.ts";
import { logPage, logQuery } from "./log-query.ts";
import { alertsConfig, type AlertsView } from "./alerts.ts";
import { tlsHostFacts } from "./tls-facts.ts";

// Messages in English that say what was expected and what came (zod/mini has none of its own).
z.config(en());

const opt = z.optional;
const nullable = z.nullable;
const text = z.string().check(z.minLength(1));
const appRef = z.object({ project: nameSchema, app: nameSchema });
const limits = z.object({ memoryBytes: opt(z.number()), cpus: opt(z.number()) });
const runtimeKind = z.enum(["docker", "process"]);

/** What the agent relies on in a release spec. The spec is stored exactly as sent (its JSON is compared and
 *  hashed, so neither a field nor the order of fields may change): the check adds issues, the value passes through. */
const specShape = z.looseObject({
  project: nameSchema,
  app: nameSchema,
  release: releaseNumber,
  runtime: opt(runtimeKind),
  image: z.string(),
  imageId: z.string(),
  port: z.int(),
  protocol: opt(z.literal("tcp")),
  internalPort: opt(z.int().check(z.minimum(1), z.maximum(65535))),
  instances: z.int().check(z.minimum(0)),
  placement: opt(z.record(z.string(), z.int().check(z.minimum(0)))),
  env: z.record(z.string(), z.string()),
  secrets: opt(z.record(z.string(), z.string())),
  files: opt(z.array(z.looseObject({ path: z.string(), mode: z.int(), content: z.string() }))),
  health: z.looseObject({ path: opt(z.string()), intervalMs: z.number(), timeoutMs: z.number(), healthyThreshold: z.int().check(z.minimum(1)), deadlineMs: z.number() }),
  routes: z.array(z.looseObject({ host: opt(z.string()), path: z.string() })),
  drainMs: z.number(),
  stopTimeoutS: z.number(),
  keepReleases: z.int().check(z.minimum(1)),
  probationMs: z.number(),
});
const releaseSpec = z.custom<ReleaseSpec>().check(
  z.superRefine((v, ctx) => {
    const r = specShape.safeParse(v);
    if (!r.success) for (const i of r.error.issues) ctx.addIssue({ code: "custom", message: i.message, path: i.path });
  }),
);

const lockInfo = z.object({ holder: text, host: text, pid: opt(z.number()), command: text, since: text, heartbeat: opt(z.string()) });
const lockInfoOut = z.custom<LockInfo>();
const historyEntry = z.custom<HistoryEntry>();
/** A whole command's record, written by the CLI on every machine at its end (the agent writes each machine's part). */
// Bounded: any lock holder may write it, and history is read whole by `skiff history`.
const short = (max: number) => z.string().check(z.maxLength(max));
const summaryEntry = z.object({
  at: z.string().check(z.regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/)),
  project: nameSchema,
  app: nameSchema,
  release: releaseNumber,
  action: z.enum(["deploy", "rollback", "scale"]),
  result: z.enum(["ok", "failed"]),
  reason: opt(short(4096)),
  deployId: opt(short(128)),
  by: opt(short(256)),
  durationMs: z.number().check(z.minimum(0)),
  phases: opt(z.partialRecord(z.enum(["lock", "plan", "build", "ship", "store", "hook", "rollout"]), z.number().check(z.minimum(0)))),
  image: opt(short(1024)),
  commit: opt(short(128)),
});
export type SummaryEntry = z.infer<typeof summaryEntry>;
const instanceRecord = z.object({
  name: z.string(),
  release: z.number(),
  runtime: opt(runtimeKind),
  bindAddress: opt(z.string()),
  hostPort: z.number(),
  slot: opt(z.string()),
  startedAt: z.string(),
  restarts: z.number(),
  lastExit: opt(z.object({ code: nullable(z.number()), oomKilled: z.boolean(), at: z.string(), reason: z.string() })),
});
/** One instance as `skiff status` shows it: its record, and what the runtime, the supervisor and HAProxy say. */
export const instanceView = z.extend(instanceRecord, { running: z.boolean(), healthy: z.boolean(), health: z.string(), note: opt(z.string()), slotState: z.string() });
export const appView = z.object({
  project: z.string(),
  app: z.string(),
  active: nullable(z.number()),
  /** Declared per-instance resources of the active release: what this app reserves here. */
  limits: opt(limits),
  placement: opt(z.record(z.string(), z.number())),
  releases: z.array(z.number()),
  instances: z.array(instanceView),
  warm: z.array(instanceView),
  /** Held stopped (`skiff accessory stop`): when, and by whom. */
  held: opt(z.object({ at: z.string(), by: opt(z.string()) })),
});
export type InstanceView = z.infer<typeof instanceView>;
export type AppView = z.infer<typeof appView>;
const job = z.object({ job: z.string() });
const metricSeries = z.object({ name: z.string(), labels: z.record(z.string(), z.string()), value: z.number() });
const metricSample = z.object({ t: z.number(), series: z.array(metricSeries) });
/** A project's series and the machine's (series without a project label). */
const metricName = z.string().check(z.regex(/^[a-z0-9_]*$/), z.maxLength(100));
const metricsScope = opt(z.object({ project: opt(nameSchema) }));
const none = z.unknown();

/** A machine's mesh certificate for one project, as its agent reads it. */
const meshCert = z.object({ project: z.string(), subject: z.string(), issuer: z.string(), notAfter: z.string(), fingerprint: z.string(), caSubjects: z.array(z.string()), loaded: opt(z.boolean()) });

const certId = z.string().check(z.regex(/^[a-z0-9][a-z0-9_.-]{0,200}$/));
const hostList = z.array(z.string().check(z.minLength(1), z.maxLength(253))).check(z.minLength(1), z.maxLength(100));

export const rpc = {
  ping: { params: none, result: z.literal("pong") },
  version: { params: none, result: agentInfoSchema },
  state: {
    params: none,
    result: z.object({
      agent: agentInfoSchema,
      machine: z.object({ hostname: z.string(), arch: z.string(), cpus: z.number(), uptimeS: z.number(), memory: z.object({ totalBytes: z.number(), freeBytes: z.number() }), disk: opt(z.object({ freeBytes: z.number(), totalBytes: z.number() })) }),
      apps: z.array(appView),
      damaged: z.array(z.string()),
      /** The HTTPS certificates this machine keeps (absent: an agent older than this report). */
      tls: opt(z.array(tlsHostFacts)),
    }),
  },
  "image.has": { params: z.object({ image: text, runtime: opt(runtimeKind) }), result: z.boolean() },
  "image.id": { params: z.object({ image: text }), result: nullable(z.string()) },
  "release.put": { params: z.object({ spec: releaseSpec }), result: z.literal(true) },
  /** With `specs: "rollback"`, also the specs of the active release and of the one a rollback would go to by this
   *  machine's history (or `to`), by number: a rollback plan then needs no second round (an older agent ignores it).
   *  With `newest` (a deploy's or a scale's plan), the specs of the active release and of this machine's `newest`
   *  newest releases (0: the active one's alone), for the same reason, and the app's instances and peers there
   *  (`list`, as `instances.list` answers): a rollout's first tell of the peers then asks no machine again. */
  "release.list": {
    params: z.extend(appRef, { specs: opt(z.literal("rollback")), to: opt(releaseNumber), newest: opt(z.int().check(z.minimum(0), z.maximum(10))) }),
    result: z.object({ releases: z.array(z.number()), active: nullable(z.number()), specs: opt(z.record(z.string(), nullable(releaseSpec))), list: opt(instanceListSchema) }),
  },
  "release.get": { params: z.extend(appRef, { release: releaseNumber }), result: nullable(releaseSpec) },
  activate: { params: activateParamsSchema, result: job },
  "hook.run": {
    params: z.extend(appRef, { release: releaseNumber, machine: text, deployId: opt(z.string()), by: opt(z.string()), holder: opt(text), job: opt(jobIdSchema) }),
    result: job,
  },
  capacity: {
    params: none,
    result: z.object({ cpus: z.number(), memoryBytes: z.number(), apps: z.array(z.object({ project: z.string(), app: z.string(), active: nullable(z.number()), limits: opt(limits), instances: z.number() })) }),
  },
  "instances.list": { params: appRef, result: instanceListSchema },
  "peers.set": { params: z.extend(appRef, { peers: z.array(z.object({ name: text, addr: text, port: z.int().check(z.minimum(1), z.maximum(65535)) })) }), result: z.literal(true) },
  "mesh.key": { params: z.object({ project: nameSchema }), result: z.object({ publicKey: z.string() }) },
  "mesh.install": {
    params: z.object({ project: nameSchema, addr: text, port: z.int().check(z.minimum(1), z.maximum(65535)), cert: short(16_384), ca: short(65_536) }),
    result: z.object({ applied: z.enum(["reload", "live"]), cert: meshCert }),
  },
  "mesh.list": { params: none, result: z.array(meshCert) },
  /** An HTTPS certificate from the repository (chain) and its key (a secret), for these route hosts. */
  "tls.set": {
    params: z.object({ id: certId, hosts: hostList, cert: short(65_536), key: short(16_384) }),
    result: z.object({ applied: z.enum(["live", "disk"]), cert: z.object({ id: z.string(), hosts: z.array(z.string()), notAfter: z.string(), serial: z.string() }) }),
  },
  /** tls: auto: this machine serves these hosts with an ACME certificate it keeps renewed (account key, the app's
   *  machines to pull from); answers the certificate it serves now, if any. */
  "tls.auto": {
    params: z.object({ project: nameSchema, app: nameSchema, id: certId, hosts: hostList, directory: z.string().check(z.regex(/^https:\/\//)), email: opt(short(254)), accountKey: short(16_384), thumbprint: z.string().check(z.regex(/^[A-Za-z0-9_-]{43}$/)), ca: opt(short(65_536)), self: nameSchema, httpPort: opt(z.int().check(z.minimum(1), z.maximum(65535))), machines: z.array(z.object({ name: nameSchema, addr: opt(short(64)) })).check(z.minLength(1), z.maxLength(1000)) }),
    result: z.object({ cert: opt(z.object({ serial: z.string(), notAfter: z.string(), due: z.boolean() })) }),
  },
  /** tls: auto: order the certificate now and serve it (a deploy asks the host's rank-0 machine). */
  "tls.issue": {
    params: z.object({ id: certId }),
    result: z.object({ applied: z.enum(["live", "disk"]), cert: z.object({ id: z.string(), hosts: z.array(z.string()), notAfter: z.string(), serial: z.string() }), ms: z.record(z.string(), z.number()) }),
  },
  /** tls: auto: take the newest copy the app's other machines have (over the mesh), when newer than this one's. */
  /** tls: auto certificates this machine keeps, with the one it serves (none yet: no notAfter). */
  "tls.list": { params: none, result: z.array(z.object({ id: z.string(), app: z.string(), hosts: z.array(z.string()), serial: opt(z.string()), notAfter: opt(z.string()) })) },
  "tls.pull": { params: z.object({ id: certId }), result: z.object({ pulled: z.boolean(), from: opt(z.string()), serial: opt(z.string()), errors: z.array(z.string()) }) },
  /** Takes away an app's certificates that its routes no longer name (`keep`: the ids they do). */
  "tls.prune": { params: z.extend(appRef, { keep: z.array(z.string()) }), result: z.object({ removed: z.array(z.string()) }) },
  "job.wait": { params: z.object({ job: text, timeoutMs: opt(z.number().check(z.minimum(0))) }), result: z.object({ done: z.boolean(), result: opt(z.unknown()), error: opt(z.string()) }) },
  "backups.set": { params: z.object({ project: nameSchema, jobs: z.array(z.custom<BackupJob>((v) => typeof v === "object" && v !== null && typeof (v as BackupJob).app === "string")) }), result: z.object({ changed: z.boolean() }) },
  "backups.key": { params: z.object({ machine: text }), result: z.object({ publicKey: z.string() }) },
  "backups.store": { params: z.object({ project: nameSchema, keys: z.array(short(1000)), merge: opt(z.boolean()), bases: opt(z.array(short(4096)).check(z.maxLength(100))) }), result: z.object({ hostKeys: z.array(z.string()) }) },
  "backup.run": { params: z.extend(appRef, { by: opt(short(256)), keepAll: opt(z.boolean()), final: opt(z.boolean()), holder: opt(text), job: opt(jobIdSchema) }), result: job },
  "backup.list": { params: appRef, result: z.array(z.custom<Snapshot>()) },
  "backup.restore": { params: z.extend(appRef, { snapshot: opt(short(64)), not: opt(z.array(short(64)).check(z.maxLength(100))), into: opt(nameSchema), by: opt(short(256)), holder: opt(text), job: opt(jobIdSchema) }), result: job },
  "backup.verify": { params: z.extend(appRef, { snapshot: opt(short(64)), job: opt(jobIdSchema) }), result: job },
  "app.hold": { params: z.extend(appRef, { machine: short(256).check(z.minLength(1)), held: z.boolean(), holder: opt(text), by: opt(short(256)) }), result: z.object({ changed: z.boolean(), instances: z.number(), reason: opt(z.string()) }) },
  "app.remove": { params: z.extend(appRef, { holder: opt(text), onlyIfActive: opt(releaseNumber) }), result: z.object({ removed: z.number(), kept: opt(z.string()) }) },
  history: {
    params: opt(z.object({ project: opt(nameSchema), app: opt(nameSchema), report: opt(z.boolean()) })),
    result: z.union([z.array(historyEntry), z.object({ entries: z.array(historyEntry), damaged: z.array(z.object({ line: z.number(), text: z.string() })) })]),
  },
  /** Per app, the releases that once served (an ok deploy, rollback or scale), when the last few served and which were
   *  rolled back from: what a rollback needs of the history (contracts/served.ts). */
  "history.served": {
    params: appRef,
    result: z.object({ releases: z.array(z.number()), at: opt(z.record(z.string(), z.string())), rejected: opt(z.record(z.string(), z.string())), damaged: z.array(z.object({ line: z.number(), text: z.string() })) }),
  },
  "history.add": { params: z.object({ entry: summaryEntry, machine: short(256).check(z.minLength(1)), holder: opt(text) }), result: z.literal(true) },
  "lock.acquire": { params: z.object({ project: nameSchema, info: lockInfo }), result: z.union([z.object({ ok: z.literal(true) }), z.object({ ok: z.literal(false), holder: opt(lockInfoOut) })]) },
  "lock.heartbeat": { params: z.object({ project: nameSchema, holder: text }), result: z.boolean() },
  "lock.release": {
    params: z.object({ project: nameSchema, holder: opt(z.string()), force: opt(z.boolean()), staleAfterMs: opt(z.number()) }),
    result: z.object({ released: z.boolean(), holder: opt(lockInfoOut), live: opt(z.boolean()), heartbeatAgeMs: opt(z.number()) }),
  },
  "lock.info": { params: z.object({ project: nameSchema }), result: nullable(lockInfoOut) },
  "firewall.set": { params: firewallEntry, result: firewallSetResult },
  "firewall.get": { params: none, result: firewallStatus },
  /** The Prometheus text exposition of the last sample. */
  "metrics.text": { params: metricsScope, result: z.object({ text: z.string(), at: z.number() }) },
  /** The last two samples (rates for `skiff top`). */
  "metrics.current": { params: metricsScope, result: z.object({ latest: metricSample, previous: opt(metricSample), intervalMs: z.number() }) },
  /** The kept history (24 h at 10 s), of series whose name starts with `prefix` (or is one of `names`), from
   *  `sinceMs` on, one sample per `stepMs` at most. */
  "metrics.history": {
    params: z.object({ project: opt(nameSchema), prefix: opt(metricName), names: opt(z.array(metricName).check(z.maxLength(50))), sinceMs: opt(z.number()), stepMs: opt(z.number().check(z.minimum(0))) }),
    result: z.object({ samples: z.array(metricSample), slots: z.number(), slotBytes: z.number() }),
  },
  "logs.read": { params: logQuery, result: logPage },
  /** The project's alert rules, receivers and machines (the CLI's word at every deploy, rollback and scale). */
  "alerts.set": { params: alertsConfig, result: z.object({ changed: z.boolean() }) },
  /** skiff.yml turned alerts off: the machine forgets the project's rules, receivers and ledger. */
  "alerts.off": { params: z.object({ project: nameSchema }), result: z.object({ changed: z.boolean() }) },
  /** The project's alerts as this machine knows them: the ledger (firing, pending, sent), the leader, peers missed. */
  "alerts.get": { params: z.object({ project: nameSchema }), result: z.custom<AlertsView>() },
} as const;

/** The results of the jobs that `activate` and `hook.run` start (what `job.wait` returns when done). */
export const jobResults = {
  "backup.run": z.custom<BackupRun>(),
  "backup.restore": z.custom<BackupRun>(),
  activate: activateResultSchema,
  "hook.run": z.object({ ok: z.boolean(), code: nullable(z.number()), output: z.string(), durationMs: z.number(), reason: opt(z.string()) }),
};

export type RpcMethod = keyof typeof rpc;
/** What a caller sends. */
export type RpcParams<M extends RpcMethod> = z.input<(typeof rpc)[M]["params"]>;
/** What the agent's handler receives, checked. */
export type RpcCheckedParams<M extends RpcMethod> = z.output<(typeof rpc)[M]["params"]>;
export type RpcResult<M extends RpcMethod> = z.output<(typeof rpc)[M]["result"]>;
export type HookResult = z.infer<(typeof jobResults)["hook.run"]>;
export type HoldParams = RpcCheckedParams<"app.hold">;
export type HoldResult = RpcResult<"app.hold">;

export const isRpcMethod = (m: string): m is RpcMethod => Object.hasOwn(rpc, m);

/** Parameters that do not fit their method: an RPC error naming the method and the field, not a crash. */
export class RpcParamsError extends Error {
  readonly code = "EPARAMS";
}

/** The method's parameters, checked; throws RpcParamsError. */
export function parseParams<M extends RpcMethod>(method: M, params: unknown): RpcCheckedParams<M> {
  const r = rpc[method].params.safeParse(params);
  if (r.success) return r.data as RpcCheckedParams<M>;
  const said = r.error.issues.slice(0, 3).map((i) => `${["params", ...i.path].join(".")}: ${i.message.replace(/^Invalid input: /, "")}`);
  const more = r.error.issues.length > 3 ? ` (and ${r.error.issues.length - 3} more)` : "";
  throw new RpcParamsError(`invalid parameters for ${method}: ${said.join("; ")}${more}`);
}
