// The activate call: what the CLI asks an agent to do with one release, and what it answers.
import * as z from "zod/mini";

/** Names the agent turns into paths (the store checks their exact form). */
export const nameSchema = z.string().check(z.minLength(1));
export const releaseNumber = z.int().check(z.minimum(0));
const opt = z.optional;
/** A job's id chosen by the caller (a UUID), so that its first job.wait can go right behind its start: the
 *  activations, hooks and backups the agent runs as jobs (jobs.ts). */
export const jobIdSchema = z.string().check(z.regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/));

export const activateParamsSchema = z.object({
  project: nameSchema,
  app: nameSchema,
  release: releaseNumber,
  machine: z.string().check(z.minLength(1)),
  /** "restart": fresh instances of the release already active here (skiff restart), in place of the ones running. */
  action: z.enum(["deploy", "rollback", "scale", "restart"]),
  /** Where instances publish their port: the machine's private address (default: loopback). */
  bindAddress: opt(z.string().check(z.minLength(1))),
  /** The machine's public HTTP port (http_port). */
  httpPort: opt(z.int().check(z.minimum(1), z.maximum(65535))),
  /** The machine's public HTTPS port (https_port), for routes with tls. */
  httpsPort: opt(z.int().check(z.minimum(1), z.maximum(65535))),
  deployId: opt(z.string()),
  by: opt(z.string()),
  /** Keep the outgoing release's instances running, out of traffic, for an instant rollback. */
  keepWarm: opt(z.boolean()),
  /** Set when this activation undoes a deploy that failed elsewhere: the undone release is recorded as rolled back.
   *  It undoes only its own switch: while another release is active here, it changes nothing. */
  revert: opt(z.object({ release: releaseNumber, reason: z.string() })),
  /** The deploy lock's holder of the deploy that asks (see the agent's fence.ts). */
  holder: opt(z.string().check(z.minLength(1))),
  /** A database moving here: this snapshot (its last backup where it ran) is restored into the new instance after
   *  its health gate and before it takes any connection. */
  restore: opt(z.string().check(z.regex(/^[0-9a-f]{8,64}$/))),
  /** The job's id, chosen by the CLI (see jobIdSchema). */
  job: opt(jobIdSchema),
});

/** Where an activation's time went, in milliseconds, in order: HAProxy and the backend made ready (prepare), the
 *  old instance stopped first (stopOld, accessories only), the instances started (start), the health gate (health), their slots UP in HAProxy (proxyUp), the switch (the old
 *  release to backup slots, peers), the old release drained (drain). Steps not reached are absent. */
export const activationPhasesSchema = z.object({
  prepare: opt(z.number()),
  /** An accessory's old instance stopped before the new one starts (stop-first). */
  stopOld: opt(z.number()),
  start: opt(z.number()),
  health: opt(z.number()),
  /** A moved database's data restored into it before it serves. */
  restore: opt(z.number()),
  proxyUp: opt(z.number()),
  switch: opt(z.number()),
  drain: opt(z.number()),
});
export type ActivationPhases = z.infer<typeof activationPhasesSchema>;

/** An app's instances on a machine and the other machines' its HAProxy reaches (peers, as last placed there): what
 *  `instances.list` answers, and an activation's result carries, so a rollout need not ask again. */
export const instanceListSchema = z.object({
  active: z.nullable(z.number()),
  instances: z.array(z.object({ name: z.string(), bindAddress: opt(z.string()), hostPort: z.number() })),
  peers: opt(z.array(z.object({ name: z.string(), addr: z.string(), port: z.number() }))),
});
export type InstanceList = z.infer<typeof instanceListSchema>;

/** What an activation did on its machine. */
export const activationOutcomeSchema = z.object({
  ok: z.boolean(),
  changed: z.boolean(),
  release: z.number(),
  machine: z.string(),
  reason: opt(z.string()),
  failedInstance: opt(z.string()),
  logs: opt(z.string()),
  durationMs: z.number(),
  /** Milliseconds from the start until the new release took traffic. */
  switchedAtMs: opt(z.number()),
  phases: opt(activationPhasesSchema),
});

export const activateResultSchema = z.extend(activationOutcomeSchema, {
  /** The app here once the activation is over (an agent that predates it sends none). */
  list: opt(instanceListSchema),
});

export type ActivateParams = z.infer<typeof activateParamsSchema>;
export type ActivateResult = z.infer<typeof activateResultSchema>;
export type ActivationOutcome = z.infer<typeof activationOutcomeSchema>;
