// What a rollback needs to know of an app's history on one machine (pure): the
// releases that served, when each last served, and those it was rolled back
// from. The agent keeps one per app as history.jsonl grows (agent/history-served.ts);
// the CLI builds one from a history it was sent (an older agent).
import { servedBy, type HistoryEntry } from "./model.ts";

/** The facts one machine answers (history.served): releases ascending; `at` the last time each served (ISO), for
 *  the most recent few; `rejected` the releases left by going back to an older release (a rollback, or a deploy's
 *  switch undone) and not served here since, with when they were left. */
export interface ServedFacts {
  releases: number[];
  at?: Record<string, string>;
  rejected?: Record<string, string>;
}

/** Releases whose last serving time is answered: a rollback goes back to one of the last few that ran. */
export const RECENT = 20;

export class ServedBook {
  /** Every release that served → the last time it served, in the order of that time (a re-served release moves to
   *  the end). */
  readonly at = new Map<number, string>();
  /** Release → when it was left for an older one. */
  readonly rejected = new Map<number, string>();
  /** The release that served last on this machine. */
  current: number | undefined;

  take(e: Pick<HistoryEntry, "action" | "result" | "release" | "at" | "summary">): void {
    // A command's summary repeats the machines' own records (with the CLI's clock): they count, not it.
    if (e.summary || !servedBy(e)) return;
    // Going back from what served (a rollback, or the switch back when a deploy failed elsewhere): that release is
    // not one to go back to later. A failed rollback's switch undone goes forward again: its target is not left out.
    if (e.action === "rollback" && this.current !== undefined && e.release < this.current) this.rejected.set(this.current, e.at);
    this.rejected.delete(e.release);
    this.at.delete(e.release);
    this.at.set(e.release, e.at);
    this.current = e.release;
  }

  /** The releases that served, ascending. */
  served(): number[] {
    return [...this.at.keys()].sort((a, b) => a - b);
  }

  clone(): ServedBook {
    const b = new ServedBook();
    for (const [r, t] of this.at) b.at.set(r, t);
    for (const [r, t] of this.rejected) b.rejected.set(r, t);
    b.current = this.current;
    return b;
  }

  /** The releases that served last, most recent last (at most RECENT). */
  recent(): number[] {
    return [...this.at.keys()].slice(-RECENT);
  }

  /** The facts for `releases` (those answered): last serving times of the RECENT most recent among them. */
  facts(releases: number[]): ServedFacts {
    const answered = new Set(releases);
    const recent = [...this.at].filter(([r]) => answered.has(r)).slice(-RECENT);
    return { releases, at: Object.fromEntries(recent), rejected: Object.fromEntries([...this.rejected].filter(([r]) => answered.has(r))) };
  }
}

/** The facts of `app` in a whole history, oldest entry first. */
export function servedFacts(history: HistoryEntry[], app: string): ServedFacts {
  const b = new ServedBook();
  for (const e of history) if (e.app === app) b.take(e);
  return b.facts(b.served());
}

/** The later of two ISO times (either may be missing). */
const later = (a: string | undefined, b: string | undefined) => (a === undefined ? b : b === undefined || a >= b ? a : b);

/**
 * The release a plain rollback goes back to, from every machine's facts: among the releases below `active` that
 * served and were not left for an older one (on any machine, unless one served it again since), the one that served
 * last (what ran before the active one; with keep_warm, the warm one). Without serving times (an older agent): the
 * newest. `passedOver`: the releases left out that the choice would otherwise have been (newer than it); all of
 * those below `active` when there is no choice.
 */
export function previousRelease(facts: ServedFacts[], active: number): { to?: number; passedOver: number[] } {
  const last = new Map<number, string>();
  const left = new Map<number, string>();
  for (const f of facts) {
    for (const [r, t] of Object.entries(f.at ?? {})) last.set(Number(r), later(last.get(Number(r)), t)!);
    for (const [r, t] of Object.entries(f.rejected ?? {})) left.set(Number(r), later(left.get(Number(r)), t)!);
  }
  // Served again after it was left (on another machine: one that was down then keeps its old view).
  const rejected = (r: number) => left.has(r) && !(last.get(r)! > left.get(r)!);
  const below = new Set<number>();
  // A loop, not a spread into Math.max: a long history overflows the call stack.
  for (const f of facts) for (const r of f.releases) if (r < active) below.add(r);
  // The one that served last; without times, or at the same time, the newest.
  const when = (r: number) => last.get(r) ?? "";
  const servedLater = (a: number, b: number) => when(a) > when(b) || (when(a) === when(b) && a > b);
  const to = [...below].filter((r) => !rejected(r)).reduce<number | undefined>((best, r) => (best === undefined || servedLater(r, best) ? r : best), undefined);
  const passedOver = [...below].filter((r) => rejected(r) && (to === undefined || r > to)).sort((a, b) => a - b);
  return { to, passedOver };
}
