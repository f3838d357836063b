// What the agent knows of each running instance's health, by instance name: set
// by activation (passed its deploy check), kept by the supervisor, shown by status.

export interface Health {
  healthy: boolean;
  detail: string;
  /** When it was last checked (clock ms). */
  at: number;
  /** When it was last probed over HTTP (a stable instance is probed less often than it is looked at). */
  probedAt?: number;
  /** Failed checks in a row. */
  fails: number;
  /** Passed checks in a row (the supervisor's, at the health interval): a warm instance with `healthy_threshold`
   *  of them, the last one fresh, has passed the gate already; probed on schedule but less freshly, it needs one
   *  pass more (see activation's passedLately and passesCarried). */
  passes?: number;
  /** When the current run of failed checks began. */
  failingSince?: number;
  /** A restart of this instance is under way. */
  busy: boolean;
  healthySince?: number;
  /** Restarts since it was last healthy for a minute: the backoff grows with it. */
  consecutiveRestarts: number;
}

export type HealthBook = Map<string, Health>;

export const newHealth = (detail: string): Health => ({ healthy: true, detail, at: 0, fails: 0, busy: false, consecutiveRestarts: 0 });
