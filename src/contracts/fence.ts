// The agent's refusal of a change whose deploy lock is not the caller's (agent/fence.ts), in words both sides
// know: the CLI tells a wave refused for its lock as a lost lock, not as a failed release.

/** What the agent says when it refuses a change for the lock: held by another holder, or by nobody. */
export const notOurLock = (project: string, held: string | undefined): string =>
  `the deploy lock of project ${project} on this machine is ${held ? `held by ${held}` : "not held by anyone"}, not by this deploy`;

/** Whether a failure's reason is that refusal. */
export const refusedForLock = (reason: string): boolean => /the deploy lock of project \S+ on this machine is (held by .+|not held by anyone), not by this deploy/.test(reason);
