// The Prometheus text format (version 0.0.4) of one sample: each metric once,
// HELP and TYPE first, then its series. Pure; `promtool check metrics` passes
// on its output (test/unit/metrics-exposition.test.ts runs it).
import { METRICS, metricOf, seriesKey, type MetricName, type Sample, type Series } from "./catalogue.ts";

export const CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

const value = (v: number) => (Number.isNaN(v) ? "NaN" : v === Infinity ? "+Inf" : v === -Infinity ? "-Inf" : String(v));
const escapeHelp = (s: string) => s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");

/** The text of a sample; `keep` picks series (e.g. one project's and the machine's). */
export function exposition(sample: Sample, keep: (labels: Record<string, string>) => boolean = () => true): string {
  const byMetric = new Map<MetricName, Series[]>();
  for (const s of sample.series) {
    const m = metricOf(s.name);
    if (!m || !keep(s.labels)) continue;
    const series = byMetric.get(m) ?? [];
    series.push(s);
    byMetric.set(m, series);
  }
  const out: string[] = [];
  // Catalogue order: stable output, the machine's metrics first.
  for (const m of Object.keys(METRICS) as MetricName[]) {
    const series = byMetric.get(m);
    if (!series) continue;
    const lines = METRICS[m].type === "histogram" ? histogramOrder(m, series) : series.map((s) => `${seriesKey(s)} ${value(s.value)}`).sort();
    out.push(`# HELP ${m} ${escapeHelp(METRICS[m].help)}`, `# TYPE ${m} ${METRICS[m].type}`, ...lines);
  }
  return out.length ? out.join("\n") + "\n" : "";
}

/** A histogram's lines as Prometheus writes them: per label set, the buckets by ascending `le` (+Inf last), then
 *  _sum and _count. */
function histogramOrder(m: MetricName, series: Series[]): string[] {
  const rank = (s: Series) => (s.name === `${m}_bucket` ? 0 : s.name === `${m}_sum` ? 1 : 2);
  const le = (s: Series) => (s.labels.le === undefined ? 0 : s.labels.le === "+Inf" ? Infinity : Number(s.labels.le));
  const keyed = series.map((s) => {
    const { le: _, ...rest } = s.labels;
    return { s, group: seriesKey({ name: m, labels: rest }), rank: rank(s), le: le(s) };
  });
  keyed.sort((a, b) => (a.group < b.group ? -1 : a.group > b.group ? 1 : a.rank - b.rank || a.le - b.le));
  return keyed.map((k) => `${seriesKey(k.s)} ${value(k.s.value)}`);
}

/** Series of a project, and those of no project (the machine, the agent). */
export const projectOrMachine = (project: string) => (labels: Record<string, string>) => labels.project === undefined || labels.project === project;

/** Several expositions (one per machine; their series differ by the machine label) as one: each metric's HELP and
 *  TYPE once, its series from every text together, so the whole passes `promtool check metrics`. */
export function mergeExpositions(texts: string[]): string {
  const families = new Map<string, { head: string[]; lines: string[] }>();
  for (const text of texts) {
    let current: { head: string[]; lines: string[] } | undefined;
    for (const line of text.split("\n")) {
      if (!line) continue;
      const meta = /^# (HELP|TYPE) (\S+)/.exec(line);
      if (meta) {
        const name = meta[2]!;
        current = families.get(name);
        if (!current) families.set(name, (current = { head: [], lines: [] }));
        if (!current.head.some((h) => h.startsWith(`# ${meta[1]} `))) current.head.push(line);
      } else if (!line.startsWith("#") && current) current.lines.push(line);
    }
  }
  return [...families.values()].map((f) => [...f.head, ...f.lines].join("\n") + "\n").join("");
}
