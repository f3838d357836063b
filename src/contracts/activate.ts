// The activate call: what the CLI asks an agent to do with one release, and what it answers.
import { z } from "zod";

/** Names the agent turns into paths (the store checks their exact form). */
export const nameSchema = z.string().min(1);
export const releaseNumber = z.int().min(0);

export const activateParamsSchema = z.object({
  project: nameSchema,
  app: nameSchema,
  release: releaseNumber,
  machine: z.string().min(1),
  action: z.enum(["deploy", "rollback", "scale"]),
  /** Where instances publish their port: the machine's private address (default: loopback). */
  bindAddress: z.string().min(1).optional(),
  /** The machine's public HTTP port (http_port). */
  httpPort: z.int().min(1).max(65535).optional(),
  deployId: z.string().optional(),
  by: z.string().optional(),
  /** Keep the outgoing release's instances running, out of traffic, for an instant rollback. */
  keepWarm: z.boolean().optional(),
  /** Set when this activation undoes a deploy that failed elsewhere: the undone release is recorded as rolled back.
   *  It undoes only its own switch: while another release is active here, it changes nothing. */
  revert: z.object({ release: releaseNumber, reason: z.string() }).optional(),
  /** The deploy lock's holder of the deploy that asks (see the agent's fence.ts). */
  holder: z.string().min(1).optional(),
});

export const activateResultSchema = z.object({
  ok: z.boolean(),
  changed: z.boolean(),
  release: z.number(),
  machine: z.string(),
  reason: z.string().optional(),
  failedInstance: z.string().optional(),
  logs: z.string().optional(),
  durationMs: z.number(),
  /** Milliseconds from the start until the new release took traffic. */
  switchedAtMs: z.number().optional(),
});

export type ActivateParams = z.infer<typeof activateParamsSchema>;
export type ActivateResult = z.infer<typeof activateResultSchema>;
