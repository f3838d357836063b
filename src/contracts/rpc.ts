// Every agent RPC method: its parameters and its result, as zod schemas (the
// config's schema library). The agent checks parameters at the boundary
// (parseParams) before any work; both sides take their types from here.
import { z } from "zod";
import type { HistoryEntry, LockInfo, ReleaseSpec } from "./model.ts";
import { activateParamsSchema, activateResultSchema, nameSchema, releaseNumber } from "./activate.ts";
import { agentInfoSchema } from "./agent-info.ts";

const text = z.string().min(1);
const appRef = z.object({ project: nameSchema, app: nameSchema });
const limits = z.object({ memoryBytes: z.number().optional(), cpus: z.number().optional() });
const runtimeKind = z.enum(["docker", "process"]);

/** What the agent relies on in a release spec. The spec is stored exactly as sent (its JSON is compared and
 *  hashed, so neither a field nor the order of fields may change): the check adds issues, the value passes through. */
const specShape = z.looseObject({
  project: nameSchema,
  app: nameSchema,
  release: releaseNumber,
  runtime: runtimeKind.optional(),
  image: z.string(),
  imageId: z.string(),
  port: z.int(),
  instances: z.int().min(0),
  placement: z.record(z.string(), z.int().min(0)).optional(),
  env: z.record(z.string(), z.string()),
  secrets: z.record(z.string(), z.string()).optional(),
  files: z.array(z.looseObject({ path: z.string(), mode: z.int(), content: z.string() })).optional(),
  health: z.looseObject({ path: z.string(), intervalMs: z.number(), timeoutMs: z.number(), healthyThreshold: z.int().min(1), deadlineMs: z.number() }),
  routes: z.array(z.looseObject({ host: z.string().optional(), path: z.string() })),
  drainMs: z.number(),
  stopTimeoutS: z.number(),
  keepReleases: z.int().min(1),
  probationMs: z.number(),
});
const releaseSpec = z.custom<ReleaseSpec>().superRefine((v, ctx) => {
  const r = specShape.safeParse(v);
  if (!r.success) for (const i of r.error.issues) ctx.addIssue({ code: "custom", message: i.message, path: i.path });
});

const lockInfo = z.object({ holder: text, host: text, pid: z.number().optional(), command: text, since: text, heartbeat: z.string().optional() });
const lockInfoOut = z.custom<LockInfo>();
const historyEntry = z.custom<HistoryEntry>();
const instanceRecord = z.object({
  name: z.string(),
  release: z.number(),
  runtime: runtimeKind.optional(),
  bindAddress: z.string().optional(),
  hostPort: z.number(),
  slot: z.string().optional(),
  startedAt: z.string(),
  restarts: z.number(),
  lastExit: z.object({ code: z.number().nullable(), oomKilled: z.boolean(), at: z.string(), reason: z.string() }).optional(),
});
/** One instance as `skiff status` shows it: its record, and what the runtime, the supervisor and HAProxy say. */
export const instanceView = instanceRecord.extend({ running: z.boolean(), healthy: z.boolean(), health: z.string(), note: z.string().optional(), slotState: z.string() });
export const appView = z.object({
  project: z.string(),
  app: z.string(),
  active: z.number().nullable(),
  /** Declared per-instance resources of the active release: what this app reserves here. */
  limits: limits.optional(),
  placement: z.record(z.string(), z.number()).optional(),
  releases: z.array(z.number()),
  instances: z.array(instanceView),
  warm: z.array(instanceView),
});
export type InstanceView = z.infer<typeof instanceView>;
export type AppView = z.infer<typeof appView>;
const job = z.object({ job: z.string() });
const none = z.unknown();

export const rpc = {
  ping: { params: none, result: z.literal("pong") },
  version: { params: none, result: agentInfoSchema },
  state: {
    params: none,
    result: z.object({
      agent: agentInfoSchema,
      machine: z.object({ hostname: z.string(), arch: z.string(), cpus: z.number(), uptimeS: z.number(), memory: z.object({ totalBytes: z.number(), freeBytes: z.number() }), disk: z.object({ freeBytes: z.number(), totalBytes: z.number() }).optional() }),
      apps: z.array(appView),
      damaged: z.array(z.string()),
    }),
  },
  "image.has": { params: z.object({ image: text, runtime: runtimeKind.optional() }), result: z.boolean() },
  "image.id": { params: z.object({ image: text }), result: z.string().nullable() },
  "release.put": { params: z.object({ spec: releaseSpec }), result: z.literal(true) },
  "release.list": { params: appRef, result: z.object({ releases: z.array(z.number()), active: z.number().nullable() }) },
  "release.get": { params: appRef.extend({ release: releaseNumber }), result: releaseSpec.nullable() },
  activate: { params: activateParamsSchema, result: job },
  "hook.run": {
    params: appRef.extend({ release: releaseNumber, machine: text, deployId: z.string().optional(), by: z.string().optional(), holder: text.optional() }),
    result: job,
  },
  capacity: {
    params: none,
    result: z.object({ cpus: z.number(), memoryBytes: z.number(), apps: z.array(z.object({ project: z.string(), app: z.string(), active: z.number().nullable(), limits: limits.optional(), instances: z.number() })) }),
  },
  "instances.list": { params: appRef, result: z.object({ active: z.number().nullable(), instances: z.array(z.object({ name: z.string(), bindAddress: z.string().optional(), hostPort: z.number() })) }) },
  "peers.set": { params: appRef.extend({ peers: z.array(z.object({ name: text, addr: text, port: z.int().min(1).max(65535) })) }), result: z.literal(true) },
  "job.wait": { params: z.object({ job: text, timeoutMs: z.number().min(0).optional() }), result: z.object({ done: z.boolean(), result: z.unknown().optional(), error: z.string().optional() }) },
  "app.remove": { params: appRef.extend({ holder: text.optional(), onlyIfActive: releaseNumber.optional() }), result: z.object({ removed: z.number(), kept: z.string().optional() }) },
  history: {
    params: z.object({ project: nameSchema.optional(), app: nameSchema.optional(), report: z.boolean().optional() }).optional(),
    result: z.union([z.array(historyEntry), z.object({ entries: z.array(historyEntry), damaged: z.array(z.object({ line: z.number(), text: z.string() })) })]),
  },
  "lock.acquire": { params: z.object({ project: nameSchema, info: lockInfo }), result: z.union([z.object({ ok: z.literal(true) }), z.object({ ok: z.literal(false), holder: lockInfoOut.optional() })]) },
  "lock.heartbeat": { params: z.object({ project: nameSchema, holder: text }), result: z.boolean() },
  "lock.release": {
    params: z.object({ project: nameSchema, holder: z.string().optional(), force: z.boolean().optional(), staleAfterMs: z.number().optional() }),
    result: z.object({ released: z.boolean(), holder: lockInfoOut.optional(), live: z.boolean().optional(), heartbeatAgeMs: z.number().optional() }),
  },
  "lock.info": { params: z.object({ project: nameSchema }), result: lockInfoOut.nullable() },
} as const;

/** The results of the jobs that `activate` and `hook.run` start (what `job.wait` returns when done). */
export const jobResults = {
  activate: activateResultSchema,
  "hook.run": z.object({ ok: z.boolean(), code: z.number().nullable(), output: z.string(), durationMs: z.number(), reason: z.string().optional() }),
};

export type RpcMethod = keyof typeof rpc;
/** What a caller sends. */
export type RpcParams<M extends RpcMethod> = z.input<(typeof rpc)[M]["params"]>;
/** What the agent's handler receives, checked. */
export type RpcCheckedParams<M extends RpcMethod> = z.output<(typeof rpc)[M]["params"]>;
export type RpcResult<M extends RpcMethod> = z.output<(typeof rpc)[M]["result"]>;
export type HookResult = z.infer<(typeof jobResults)["hook.run"]>;

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
