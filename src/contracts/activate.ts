// The activate call: what the CLI asks an agent to do with one release, and what it answers.

export interface ActivateParams {
  project: string;
  app: string;
  release: number;
  machine: string;
  action: "deploy" | "rollback" | "scale";
  /** Where instances publish their port: the machine's private address (default: loopback). */
  bindAddress?: string;
  /** The machine's public HTTP port (http_port). */
  httpPort?: number;
  deployId?: string;
  by?: string;
  /** Keep the outgoing release's instances running, out of traffic, for an instant rollback. */
  keepWarm?: boolean;
  /** Set when this activation undoes a deploy that failed elsewhere: the undone release is recorded as rolled back.
   *  It undoes only its own switch: while another release is active here, it changes nothing. */
  revert?: { release: number; reason: string };
  /** The deploy lock's holder of the deploy that asks (see `fence`). */
  holder?: string;
}

export interface ActivateResult {
  ok: boolean;
  changed: boolean;
  release: number;
  machine: string;
  reason?: string;
  failedInstance?: string;
  logs?: string;
  durationMs: number;
  /** Milliseconds from the start until the new release took traffic. */
  switchedAtMs?: number;
}
