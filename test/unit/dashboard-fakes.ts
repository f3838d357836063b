// A project as the dashboard's poll sees it, made up: two machines, app `web` on both, an hour of samples at 10 s
// with a known traffic (5 requests/s per machine, 1 in 10 a 5xx on m2, every request in the 10–25 ms bucket), two
// deploys in the history, one alert firing. Counts every call, as the machines would.
import type { AlertsReport } from "../../src/api/alerts.ts";
import type { History } from "../../src/api/history.ts";
import type { LogLine, LogsOptions } from "../../src/api/logs.ts";
import type { HistoryQuery } from "../../src/api/metrics.ts";
import type { RollbackOptions, RollbackResult } from "../../src/api/skiff.ts";
import type { MachineState } from "../../src/api/status.ts";
import type { Sample, Series } from "../../src/metrics/catalogue.ts";
import { DURATION_BUCKETS_S } from "../../src/metrics/request-durations.ts";

export const NOW = Date.parse("2026-11-30T12:00:00Z");
const LE = [...DURATION_BUCKETS_S.map(String), "+Inf"];

/** Machine `m`'s sample at `t` (counters from 0 an hour ago). */
export function sampleAt(m: string, t: number, from = NOW - 3_600_000): Sample {
  const s = (t - from) / 1000;
  const app = { project: "shop", app: "web", machine: m };
  const requests = 5 * s;
  const errors = m === "m2" ? requests / 10 : 0;
  const series: Series[] = [
    { name: "skiff_machine_cpu_seconds_total", labels: { machine: m, mode: "idle" }, value: 0.75 * s * 2 },
    { name: "skiff_machine_cpu_seconds_total", labels: { machine: m, mode: "user" }, value: 0.25 * s * 2 },
    { name: "skiff_machine_memory_total_bytes", labels: { machine: m }, value: 4 * 2 ** 30 },
    { name: "skiff_machine_memory_available_bytes", labels: { machine: m }, value: 3 * 2 ** 30 },
    { name: "skiff_machine_disk_total_bytes", labels: { machine: m, path: "/" }, value: 100 },
    { name: "skiff_machine_disk_free_bytes", labels: { machine: m, path: "/" }, value: 60 },
    { name: "skiff_app_http_responses_total", labels: { ...app, code: "2xx" }, value: requests - errors },
    { name: "skiff_app_http_responses_total", labels: { ...app, code: "5xx" }, value: errors },
    ...LE.map((le) => ({ name: "skiff_app_http_request_duration_seconds_bucket" as const, labels: { ...app, le }, value: Number(le) <= 0.01 ? 0 : requests })),
    { name: "skiff_instance_memory_bytes", labels: { ...app, instance: `skiff-shop-web-3-${m}a`, release: "3" }, value: 50 * 2 ** 20 },
    { name: "skiff_instance_memory_limit_bytes", labels: { ...app, instance: `skiff-shop-web-3-${m}a`, release: "3" }, value: 200 * 2 ** 20 },
    { name: "skiff_agent_cpu_seconds_total", labels: { machine: m }, value: s / 100 },
  ];
  return { t, series };
}

const instance = (m: string) => ({ name: `skiff-shop-web-3-${m}a`, release: 3, hostPort: 20000, running: true, healthy: true, health: "ok", restarts: m === "m2" ? 2 : 0, startedAt: new Date(NOW - 600_000).toISOString(), slotState: "active" });

export function fakeApi(opts: { now?: () => number } = {}) {
  const now = opts.now ?? (() => NOW);
  const calls = { status: 0, alerts: 0, history: 0, metrics: [] as HistoryQuery[], logs: [] as LogsOptions[], rollback: [] as RollbackOptions[] };
  const status: MachineState[] = ["m1", "m2"].map((machine) => ({ machine, apps: [{ project: "shop", app: "web", active: 3, releases: [2, 3], instances: [instance(machine)], warm: [], internalUrl: "http://web.shop.internal/" }], damaged: [] }));
  const history: History = {
    rows: [
      { app: "web", release: 2, action: "deploy", by: "ana", at: new Date(NOW - 40 * 60_000).toISOString(), machines: { m1: { result: "ok" }, m2: { result: "ok" } } },
      { app: "web", release: 3, action: "deploy", by: "bo", at: new Date(NOW - 10 * 60_000).toISOString(), durationMs: 12_300, machines: { m1: { result: "ok" }, m2: { result: "ok" } } },
    ],
    unreachable: [],
    damaged: [],
  };
  const alerts: AlertsReport = {
    firing: [{ key: "error_rate/web", rule: "errorRate", labels: { app: "web" }, summary: "web: 5% of requests failed (5xx)", state: "firing", since: NOW - 120_000, firedAt: NOW - 60_000 }],
    pending: [],
    events: [],
    receivers: [],
    machines: [],
    configured: true,
  };
  const api = {
    project: { name: "shop", environment: null, apps: { web: {} }, machines: { m1: {}, m2: {} } },
    calls,
    status: async () => (calls.status++, status),
    history: async () => (calls.history++, history),
    alerts: { list: async () => (calls.alerts++, alerts) },
    metrics: {
      history: async (q: HistoryQuery) => {
        calls.metrics.push(q);
        const step = Math.max(q.stepMs ?? 10_000, 10_000);
        return ["m1", "m2"].map((machine) => {
          const samples: Sample[] = [];
          for (let t = NOW - 3_600_000 + 10_000; t <= now(); t += step) if (t >= (q.sinceMs ?? 0)) samples.push(sampleAt(machine, t));
          return { machine, samples: samples.map((s) => ({ t: s.t, series: s.series.filter((x) => !q.names || q.names.includes(x.name)) })) };
        });
      },
    },
    async *logs(o: LogsOptions): AsyncGenerator<LogLine> {
      calls.logs.push(o);
      for (let i = 0; i < 3; i++) yield { time: new Date(NOW - 3000 + i * 1000).toISOString(), machine: "m1", app: "web", kind: "out", release: 3, instance: "skiff-shop-web-3-m1a", text: `GET /item/${i} <b>200</b>` };
      if (o.follow) await new Promise<void>((r) => o.signal?.addEventListener("abort", () => r(), { once: true }));
    },
    rollback: async (o: RollbackOptions): Promise<RollbackResult> => {
      calls.rollback.push(o);
      const plan = { action: "rollback" as const, project: "shop", apps: [{ app: "web", to: o.to ?? 2, chosen: "previous good" as const, machines: [], batches: [] }], skipped: [] };
      return { plan, dryRun: o.dryRun === true, ok: true, outcomes: o.dryRun ? [] : [{ app: "web", from: [3, 3], to: o.to ?? 2, result: { ok: true, switched: [], unchanged: [], reverted: [], waves: [] } }] };
    },
  };
  return api;
}
