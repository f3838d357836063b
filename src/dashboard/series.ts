// The dashboard's charts from the agents' samples: one point per step on a
// fixed grid of times, each from every machine's last sample at or before it.
// Counters become rates over the interval that sample closes; request
// quantiles come from the duration histogram's increase over it, added up over
// the machines (metrics/quantile.ts, as `skiff top` and the alert rules do). Pure.
import type { Sample } from "../metrics/catalogue.ts";
import { machineTop } from "../metrics/top.ts";
import { windowQuantiles } from "../metrics/quantile.ts";

/** The metrics the dashboard reads; the rest of a sample is dropped when it arrives. */
export const CHART_METRICS = [
  "skiff_machine_cpu_seconds_total",
  "skiff_machine_memory_total_bytes",
  "skiff_machine_memory_available_bytes",
  "skiff_machine_disk_total_bytes",
  "skiff_machine_disk_free_bytes",
  "skiff_machine_load1",
  "skiff_app_http_responses_total",
  "skiff_app_http_request_duration_seconds_bucket",
  "skiff_instance_memory_bytes",
  "skiff_instance_memory_limit_bytes",
] as const;

const WANTED = new Set<string>(CHART_METRICS);

/** A sample with only the series the dashboard reads. */
export const forCharts = (s: Sample): Sample => ({ t: s.t, series: s.series.filter((x) => WANTED.has(x.name)) });

/** A chart's data: times (Unix seconds, as uPlot takes them) and one array per line, null where nothing is known. */
export interface Chart {
  t: number[];
  lines: Record<string, (number | null)[]>;
}

/** The grid: `to` and every `stepMs` before it back to `from`, oldest first. */
export function grid(from: number, to: number, stepMs: number): number[] {
  const out: number[] = [];
  for (let t = to; t >= from; t -= stepMs) out.push(t);
  return out.reverse();
}

/** Per machine and grid time: the sample that closes the interval ending there and the one that opens it (the
 *  sample before, when no newer one came in the step), or nothing when the machine's last sample is stale. */
export function pairsAt(samples: readonly Sample[], times: readonly number[], stepMs: number): ({ a: Sample; b: Sample } | undefined)[] {
  const out: ({ a: Sample; b: Sample } | undefined)[] = [];
  let i = -1;
  // Samples come every 10 s: a machine whose last is older than two steps (or 30 s) has none for that time.
  const stale = Math.max(2 * stepMs, 30_000);
  for (const t of times) {
    while (i + 1 < samples.length && samples[i + 1]!.t <= t) i++;
    const b = samples[i];
    if (!b || i < 1 || t - b.t > stale) {
      out.push(undefined);
      continue;
    }
    // The interval starts at the last sample at or before the previous grid time, or at the one before b.
    let j = i - 1;
    while (j > 0 && samples[j]!.t > t - stepMs) j--;
    out.push({ a: samples[j]!, b });
  }
  return out;
}

const total = (s: Sample, name: string, match: Record<string, string>): number | undefined => {
  let n: number | undefined;
  for (const x of s.series) if (x.name === name && Object.entries(match).every(([k, v]) => x.labels[k] === v)) n = (n ?? 0) + x.value;
  return n;
};

/** A counter's increase from a to b; a counter that went down restarted, and all of b is the interval's. */
const increase = (a: number | undefined, b: number | undefined) => (b === undefined ? undefined : a === undefined || b < a ? b : b - a);

const round = (v: number, digits: number) => Number(v.toFixed(digits));

/** An app's traffic over time, all machines together: requests/s, the 5xx share (%), and p50/p95/p99 (ms). */
export function appChart(byMachine: ReadonlyMap<string, readonly Sample[]>, project: string, app: string, times: readonly number[], stepMs: number): Chart {
  const lines = { rps: [] as (number | null)[], errors: [] as (number | null)[], p50: [] as (number | null)[], p95: [] as (number | null)[], p99: [] as (number | null)[] };
  const pairs = [...byMachine.values()].map((s) => pairsAt(s, times, stepMs));
  const match = { project, app };
  times.forEach((_, k) => {
    let rps: number | undefined;
    let all = 0;
    let bad = 0;
    const earlier: Sample = { t: 0, series: [] };
    const later: Sample = { t: 0, series: [] };
    for (const p of pairs) {
      const pair = p[k];
      if (!pair || pair.b.t <= pair.a.t) continue;
      const n = increase(total(pair.a, "skiff_app_http_responses_total", match), total(pair.b, "skiff_app_http_responses_total", match));
      if (n === undefined) continue;
      const e = increase(total(pair.a, "skiff_app_http_responses_total", { ...match, code: "5xx" }), total(pair.b, "skiff_app_http_responses_total", { ...match, code: "5xx" })) ?? 0;
      rps = (rps ?? 0) + n / ((pair.b.t - pair.a.t) / 1000);
      all += n;
      bad += e;
      earlier.series.push(...pair.a.series);
      later.series.push(...pair.b.series);
    }
    const q = windowQuantiles(earlier, later, project, app);
    lines.rps.push(rps === undefined ? null : round(rps, 2));
    lines.errors.push(all > 0 ? round((100 * bad) / all, 2) : rps === undefined ? null : 0);
    lines.p50.push(q.p50 === undefined ? null : round(q.p50 * 1000, 1));
    lines.p95.push(q.p95 === undefined ? null : round(q.p95 * 1000, 1));
    lines.p99.push(q.p99 === undefined ? null : round(q.p99 * 1000, 1));
  });
  return { t: times.map((t) => Math.round(t / 1000)), lines };
}

/** A machine's resources over time: CPU busy, memory used and fullest disk, in %. */
export function machineChart(samples: readonly Sample[], machine: string, times: readonly number[], stepMs: number): Chart {
  const lines = { cpu: [] as (number | null)[], memory: [] as (number | null)[], disk: [] as (number | null)[] };
  for (const pair of pairsAt(samples, times, stepMs)) {
    const top = pair ? machineTop(machine, pair.b, pair.a) : undefined;
    lines.cpu.push(top?.cpu === undefined ? null : round(top.cpu * 100, 1));
    lines.memory.push(top?.memoryUsed !== undefined && top.memoryTotal ? round((100 * top.memoryUsed) / top.memoryTotal, 1) : null);
    lines.disk.push(top?.diskUsed === undefined ? null : round(top.diskUsed * 100, 1));
  }
  return { t: times.map((t) => Math.round(t / 1000)), lines };
}

/** Each instance's memory and limit (bytes) in a machine's last sample, by instance name. */
export function instanceMemory(latest: Sample | undefined): Map<string, { bytes?: number; limit?: number }> {
  const out = new Map<string, { bytes?: number; limit?: number }>();
  for (const x of latest?.series ?? []) {
    if (x.name !== "skiff_instance_memory_bytes" && x.name !== "skiff_instance_memory_limit_bytes") continue;
    const i = x.labels.instance;
    if (!i) continue;
    const m = out.get(i) ?? {};
    if (x.name === "skiff_instance_memory_bytes") m.bytes = x.value;
    else m.limit = x.value;
    out.set(i, m);
  }
  return out;
}
