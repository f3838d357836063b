// The machines' saved state as a planner sees it: plain data, read from the
// agents by exec/observe.ts (or built by a test). Planners read nothing else.
import type { InstanceList } from "../contracts/activate.ts";
import type { FirewallStatus } from "../contracts/firewall.ts";
import type { HistoryEntry, ReleaseSpec } from "../contracts/model.ts";
import type { ServedFacts } from "../contracts/served.ts";

/** What the agent's `capacity` answers: the machine's size and what each app's active release reserves. */
export interface ObservedCapacity {
  cpus: number;
  memoryBytes: number;
  apps: { project: string; app: string; active: number | null; limits?: { cpus?: number; memoryBytes?: number }; instances: number }[];
}

export interface ObservedMachine {
  machine: string;
  capacity?: ObservedCapacity;
  /** Per app of the project: the releases stored there and the active one; a deploy's or scale's plan also has
   *  the app's instances and peers there (`list`; an older agent sends none). */
  apps: Record<string, { releases: number[]; active: number | null; list?: InstanceList }>;
  /** Release specs read from this machine, by app and number (null: listed but unreadable). As the machine keeps
   *  them: a machine without instances of the app holds them withheld (no secrets, no files). */
  specs: Record<string, Record<number, ReleaseSpec | null>>;
  history?: HistoryEntry[];
  /** Per app, the releases that once served there (an ok deploy, rollback or scale), when the last few served and
   *  which were rolled back from: what a rollback reads instead of the whole history (an agent that predates it
   *  sends its history). */
  served?: Record<string, ServedFacts>;
  /** Lines of history.jsonl the agent skipped as damaged. */
  damaged?: number[];
  /** Image or artifact IDs this machine holds (asked only for plans that are printed). */
  images?: string[];
  /** skiff's firewall there (asked only for plans that are printed); null: the agent predates it. */
  firewall?: FirewallStatus | null;
}

export interface Observed {
  /** Reachable machines, in the project's order (the order of rollout). */
  machines: ObservedMachine[];
  /** Machines left out because they did not answer (--skip-unreachable). */
  unreachable: string[];
}

/** A machine's stored spec of a release, when it was read. */
export const specOn = (m: ObservedMachine, app: string, release: number | null): ReleaseSpec | null => (release === null ? null : (m.specs[app]?.[release] ?? null));

/** The active release as the first machine that runs the app holds it (with its secrets); a withheld copy
 *  only when no machine has the full one. */
export function activeSpec(o: Observed, app: string): ReleaseSpec | null {
  let withheld: ReleaseSpec | null = null;
  for (const m of o.machines) {
    const s = specOn(m, app, m.apps[app]?.active ?? null);
    if (s && !s.withheld) return s;
    withheld ??= s;
  }
  return withheld;
}

/** The newest few release numbers stored anywhere: a deploy reuses one when it is identical (a re-run converges). */
/** How many of the newest releases a deploy's plan considers reusing (candidateReleases). */
export const CANDIDATE_RELEASES = 3;

export function candidateReleases(o: Observed, app: string): number[] {
  return [...new Set(o.machines.flatMap((m) => m.apps[app]?.releases ?? []))].sort((a, b) => b - a).slice(0, CANDIDATE_RELEASES);
}
