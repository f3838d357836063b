// Quantiles from the request-duration histogram (request-durations.ts), as
// Prometheus' histogram_quantile computes them: find the bucket the rank falls
// in and interpolate linearly inside it. For `skiff top` and alert rules over
// the agents' own samples, without a Prometheus. Pure.
import type { Sample } from "./catalogue.ts";

export interface Bucket {
  /** Upper bound (s); the last bucket's is Infinity. */
  le: number;
  /** Cumulative: observations ≤ le. */
  count: number;
}

/**
 * The q-quantile (0–1) of cumulative buckets, Prometheus' way: NaN without observations or without a +Inf bucket;
 * a rank in the +Inf bucket gives the highest finite bound; the first bucket starts at 0 (durations are never
 * negative). Buckets may come in any order; a count lower than the one before (counted while the counters moved)
 * is taken as equal to it.
 */
export function histogramQuantile(q: number, buckets: readonly Bucket[]): number {
  if (Number.isNaN(q)) return NaN;
  if (q < 0) return -Infinity;
  if (q > 1) return Infinity;
  const b = [...buckets].sort((x, y) => x.le - y.le);
  if (b.length < 2 || b.at(-1)!.le !== Infinity) return NaN;
  for (let i = 1; i < b.length; i++) if (b[i]!.count < b[i - 1]!.count) b[i] = { le: b[i]!.le, count: b[i - 1]!.count };
  const total = b.at(-1)!.count;
  if (!(total > 0)) return NaN;
  const rank = q * total;
  let i = b.findIndex((x) => x.count >= rank);
  if (i === b.length - 1) return b[b.length - 2]!.le;
  // A rank of 0 falls in the first non-empty bucket, not at the start of an empty one before it.
  if (rank === 0) i = b.findIndex((x) => x.count > 0);
  const start = i === 0 ? 0 : b[i - 1]!.le;
  const below = i === 0 ? 0 : b[i - 1]!.count;
  const inBucket = b[i]!.count - below;
  if (start >= b[i]!.le) return b[i]!.le;
  return start + (b[i]!.le - start) * ((rank - below) / inBucket);
}

/** A histogram's increase between two readings (bound → cumulative count), by ascending bound. A count that went
 *  down means the counters restarted in between (and no earlier reading means they started since): the later
 *  counts are then all the window's, as Prometheus' increase() takes a reset. */
export function bucketIncrease(now: ReadonlyMap<number, number>, then?: ReadonlyMap<number, number>): Bucket[] {
  const reset = !then || [...now].some(([le, c]) => c < (then.get(le) ?? 0));
  return [...now]
    .sort(([a], [b]) => a - b)
    .map(([le, c]) => ({ le, count: reset ? c : c - (then.get(le) ?? 0) }));
}

/** Histograms of several machines added up, bound by bound (ascending). */
export function addBuckets(hs: readonly (readonly Bucket[])[]): Bucket[] {
  const sum = new Map<number, number>();
  for (const h of hs) for (const b of h) sum.set(b.le, (sum.get(b.le) ?? 0) + b.count);
  return [...sum].sort(([a], [b]) => a - b).map(([le, count]) => ({ le, count }));
}

export interface WindowQuantiles {
  /** Requests counted between the two samples. */
  count: number;
  /** Seconds; undefined when no request was counted. */
  p50?: number;
  p95?: number;
  p99?: number;
}

const HISTOGRAM = "skiff_app_http_request_duration_seconds";

/** A histogram's series in a sample, per machine (a merged sample may hold several): le → count, and the count. */
function histograms(s: Sample, project: string, app: string): Map<string, Map<number, number>> {
  const out = new Map<string, Map<number, number>>();
  for (const x of s.series) {
    if (x.name !== `${HISTOGRAM}_bucket` || x.labels.project !== project || x.labels.app !== app) continue;
    const m = x.labels.machine ?? "";
    let h = out.get(m);
    if (!h) out.set(m, (h = new Map()));
    h.set(x.labels.le === "+Inf" ? Infinity : Number(x.labels.le), x.value);
  }
  return out;
}

/**
 * Requests of an app between two samples and their p50/p95/p99, from the buckets' increase (summed over the
 * machines the samples hold). A machine whose counters went down restarted its agent in between (and one absent
 * from the earlier sample started counting since): its later counts are all that window's, as Prometheus'
 * increase() takes a reset.
 */
export function windowQuantiles(earlier: Sample, later: Sample, project: string, app: string): WindowQuantiles {
  const before = histograms(earlier, project, app);
  const buckets = addBuckets([...histograms(later, project, app)].map(([machine, now]) => bucketIncrease(now, before.get(machine))));
  const count = buckets.find((b) => b.le === Infinity)?.count ?? 0;
  if (!(count > 0)) return { count: 0 };
  return { count, p50: histogramQuantile(0.5, buckets), p95: histogramQuantile(0.95, buckets), p99: histogramQuantile(0.99, buckets) };
}
