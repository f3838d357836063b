// What a rollback needs to know of an app's history on one machine (pure): the
// releases that served, when each last served, and those it was rolled back
// from. The agent keeps one per app as history.jsonl grows (agent/history-served.ts);
// the CLI builds one from a history it was sent (an older agent).
import { servedBy, type HistoryEntry } from "./model.ts";

/** The facts one machine answers (history.served): releases ascending; `at` the last time each served (ISO), for
 *  the most recent few; `rejected` the releases left by going back (a rollback to an older release, or a deploy's
 *  switch undone) and not served since. */
export interface ServedFacts {
  releases: number[];
  at?: Record<string, string>;
  rejected?: number[];
}

/** Releases whose last serving time is answered: a rollback goes back to one of the last few that ran. */
export const RECENT = 20;

export class ServedBook {
  readonly served = new Set<number>();
  /** Release → the last time it served, in the order of that time (a re-served release moves to the end). */
  readonly at = new Map<number, string>();
  readonly rejected = new Set<number>();
  /** The release that served last on this machine. */
  current: number | undefined;

  take(e: Pick<HistoryEntry, "action" | "result" | "release" | "at">): void {
    // A deploy's switch undone (its release took traffic here, then the deploy failed elsewhere).
    if (e.result === "rolled back") return void this.rejected.add(e.release);
    if (!servedBy(e)) return;
    // Going back from what served: that release is not one to go back to later.
    if (e.action === "rollback" && this.current !== undefined && e.release < this.current) this.rejected.add(this.current);
    this.rejected.delete(e.release);
    this.served.add(e.release);
    this.at.delete(e.release);
    this.at.set(e.release, e.at);
    this.current = e.release;
  }

  clone(): ServedBook {
    const b = new ServedBook();
    for (const r of this.served) b.served.add(r);
    for (const [r, t] of this.at) b.at.set(r, t);
    for (const r of this.rejected) b.rejected.add(r);
    b.current = this.current;
    return b;
  }

  /** The facts for `releases` (those answered): last serving times of the RECENT most recent among them. */
  facts(releases: number[]): ServedFacts {
    const answered = new Set(releases);
    const recent = [...this.at].filter(([r]) => answered.has(r)).slice(-RECENT);
    return { releases, at: Object.fromEntries(recent), rejected: [...this.rejected].filter((r) => answered.has(r)).sort((a, b) => a - b) };
  }
}

/** The facts of `app` in a whole history, oldest entry first. */
export function servedFacts(history: HistoryEntry[], app: string): ServedFacts {
  const b = new ServedBook();
  for (const e of history) if (e.app === app) b.take(e);
  return b.facts([...b.served].sort((x, y) => x - y));
}

/**
 * The release a plain rollback goes back to, from every machine's facts: among the releases below `active` that
 * served and that no machine went back from, the one that served last (what ran before the active one; with
 * keep_warm, the warm one). Without serving times (an older agent): the newest. `passedOver`: those below
 * `active` left out because they were rolled back from.
 */
export function previousRelease(facts: ServedFacts[], active: number): { to?: number; passedOver: number[] } {
  const rejected = new Set(facts.flatMap((f) => f.rejected ?? []));
  const last = new Map<number, string>();
  for (const f of facts) for (const [r, t] of Object.entries(f.at ?? {})) if (!(last.get(Number(r))! >= t)) last.set(Number(r), t);
  const below = new Set<number>();
  // A loop, not a spread into Math.max: a long history overflows the call stack.
  for (const f of facts) for (const r of f.releases) if (r < active) below.add(r);
  const passedOver = [...below].filter((r) => rejected.has(r)).sort((a, b) => a - b);
  let to: number | undefined;
  for (const r of below) {
    if (rejected.has(r) || to === undefined) {
      if (!rejected.has(r)) to = r;
      continue;
    }
    const [tr, tt] = [last.get(r), last.get(to)];
    if ((tr ?? "") > (tt ?? "") || (tr === tt && r > to)) to = r;
  }
  return { to, passedOver };
}
