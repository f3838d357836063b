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
