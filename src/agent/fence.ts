// Fencing by the deploy lock's holder: a deploy that lost its lock (broken with
// --force, or called stale while its CLI stalled) must not change this machine
// any more, since another deploy may be running.
import type { Store } from "./store.ts";
import { notOurLock } from "../contracts/fence.ts";

/** Checked under the app mutex, so a deploy that takes the lock next waits for a change already under way, and
 *  the stale one's next change is refused. A revert (undoing only its own switch, see activation.ts) may also run
 *  while nobody holds the lock: after a `lock release --force` no one else is deploying, and refusing would leave
 *  the project on mixed releases. A call without a holder (`skiff demo --down`, an older CLI) is served only while
 *  no deploy holds the lock. */
export function fence(store: Store, project: string, holder: string | undefined, revert = false): void {
  const held = store.lockInfo(project);
  if (holder === undefined) {
    if (held) throw new Error(`the deploy lock of project ${project} on this machine is held by ${held.holder}, and this call names no lock holder (a skiff CLI older than this agent? update it)`);
    return;
  }
  if (held?.holder === holder || (revert && !held)) return;
  throw new Error(notOurLock(project, held?.holder));
}
