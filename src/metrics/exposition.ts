// The Prometheus text format (version 0.0.4) of one sample: each metric once,
// HELP and TYPE first, then its series. Pure; `promtool check metrics` passes
// on its output (test/unit/metrics-exposition.test.ts runs it).
import { METRICS, metricOf, seriesKey, type MetricName, type Sample } from "./catalogue.ts";

export const CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

const value = (v: number) => (Number.isNaN(v) ? "NaN" : v === Infinity ? "+Inf" : v === -Infinity ? "-Inf" : String(v));
const escapeHelp = (s: string) => s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");

/** The text of a sample; `keep` picks series (e.g. one project's and the machine's). */
export function exposition(sample: Sample, keep: (labels: Record<string, string>) => boolean = () => true): string {
  const byMetric = new Map<MetricName, string[]>();
  for (const s of sample.series) {
    const m = metricOf(s.name);
    if (!m || !keep(s.labels)) continue;
    const lines = byMetric.get(m) ?? [];
    lines.push(`${seriesKey(s)} ${value(s.value)}`);
    byMetric.set(m, lines);
  }
  const out: string[] = [];
  // Catalogue order: stable output, the machine's metrics first.
  for (const m of Object.keys(METRICS) as MetricName[]) {
    const lines = byMetric.get(m);
    if (!lines) continue;
    out.push(`# HELP ${m} ${escapeHelp(METRICS[m].help)}`, `# TYPE ${m} ${METRICS[m].type}`, ...lines.sort());
  }
  return out.length ? out.join("\n") + "\n" : "";
}

/** Series of a project, and those of no project (the machine, the agent). */
export const projectOrMachine = (project: string) => (labels: Record<string, string>) => labels.project === undefined || labels.project === project;
