// The response-time histogram per app: every HAProxy request line the agent
// receives (agent/log-requests.ts) adds its duration here, in memory; the
// sampler turns the counts into cumulative Prometheus histogram series
// (skiff_app_http_request_duration_seconds). Counters from the agent's start:
// a restart resets them, as Prometheus expects of counters. One table look-up
// a request (the agent runs without a JIT: a search over a dozen bounds was
// a dozen steps a line), no allocation.
import type { Series } from "./catalogue.ts";

/** Upper bounds (s): Prometheus' default web buckets, with 1 ms and 2.5 ms below them for apps that answer in a
 *  few ms (HAProxy's timers count whole ms, so nothing finer is measured). */
export const DURATION_BUCKETS_S = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;
const BOUNDS_MS = DURATION_BUCKETS_S.map((s) => s * 1000);
/** The bounds as the `le` label writes them (Prometheus' shortest float form; "+Inf" last). */
const LE = [...DURATION_BUCKETS_S.map(String), "+Inf"];
/** The bucket of every whole ms up to the last bound (HAProxy's timers are whole ms): BUCKET_OF_MS[ms]. */
const LAST_BOUND_MS = BOUNDS_MS.at(-1)!;
const BUCKET_OF_MS = Uint8Array.from({ length: LAST_BOUND_MS + 1 }, (_, ms) => BOUNDS_MS.findIndex((b) => ms <= b));

/** The bucket a duration goes in: the first whose bound it does not exceed (the last: above every bound). */
export function bucketOf(ms: number): number {
  if (Number.isInteger(ms) && ms >= 0 && ms <= LAST_BOUND_MS) return BUCKET_OF_MS[ms]!;
  let i = 0;
  while (i < BOUNDS_MS.length && ms > BOUNDS_MS[i]!) i++;
  return i;
}

/** One app's counts; the request log adds to them directly, a chunk of lines at a time (counts()). */
export interface Counts {
  project: string;
  app: string;
  /** Per bucket, not cumulative: [i] counts durations in (bound i-1, bound i]; the last is above 10 s. */
  buckets: number[];
  sumMs: number;
}

export class RequestDurations {
  /** By HAProxy backend name (one per app; the parser has it as a string already). */
  private readonly apps = new Map<string, Counts>();

  /** One request of the app's backend `backend`, `ms` long (HAProxy's Ta). */
  observe(backend: string, project: string, app: string, ms: number): void {
    const c = this.counts(backend, project, app);
    c.buckets[bucketOf(ms)]!++;
    c.sumMs += ms;
  }

  /** The app's counts, to add to in place (`buckets[bucketOf(ms)]++`, `sumMs += ms`). Held no longer than a
   *  chunk of lines: series() forgets the counts of an app that left, and a later request starts new ones. */
  counts(backend: string, project: string, app: string): Counts {
    let c = this.apps.get(backend);
    if (!c) this.apps.set(backend, (c = { project, app, buckets: new Array<number>(LE.length).fill(0), sumMs: 0 }));
    return c;
  }

  /** The histogram series of the apps `keep` accepts (by backend name); the others' counts are forgotten (the app
   *  left this machine: should it come back, its counters start again, which Prometheus reads as a reset). */
  series(machine: string, keep: (backend: string) => boolean): Series[] {
    const out: Series[] = [];
    for (const [backend, c] of this.apps) {
      if (!keep(backend)) {
        this.apps.delete(backend);
        continue;
      }
      const labels = { project: c.project, app: c.app, machine };
      let cumulative = 0;
      for (let i = 0; i < LE.length; i++) {
        cumulative += c.buckets[i]!;
        out.push({ name: "skiff_app_http_request_duration_seconds_bucket", labels: { ...labels, le: LE[i]! }, value: cumulative });
      }
      out.push({ name: "skiff_app_http_request_duration_seconds_sum", labels, value: c.sumMs / 1000 });
      out.push({ name: "skiff_app_http_request_duration_seconds_count", labels, value: cumulative });
    }
    return out;
  }
}
