// What `skiff top` shows, from each machine's last two samples: rates are the
// counters' difference over the time between the samples. Pure.
import type { Sample, Series } from "./catalogue.ts";
import { windowQuantiles } from "./quantile.ts";

export interface MachineTop {
  machine: string;
  /** Busy share of all CPUs, 0–1 (undefined until two samples exist). */
  cpu?: number;
  memoryUsed?: number;
  memoryTotal?: number;
  /** Fullest of the watched filesystems, 0–1. */
  diskUsed?: number;
  load1?: number;
}

export interface AppTop {
  project: string;
  app: string;
  machine: string;
  requestsPerS?: number;
  /** 5xx share of the responses between the samples, 0–1. */
  errors?: number;
  /** HAProxy's average time to the first byte (s). */
  responseS?: number;
  /** 95th percentile of the requests' whole time between the samples (s), of those that entered on this machine
   *  (undefined without two samples or without requests). */
  p95S?: number;
  connections?: number;
  instances: number;
  instancesUp: number;
  cpu?: number;
  memoryBytes?: number;
  restarts: number;
}

const find = (s: Sample | undefined, name: string, match: Record<string, string> = {}): Series[] =>
  s?.series.filter((x) => x.name === name && Object.entries(match).every(([k, v]) => x.labels[k] === v)) ?? [];
const sum = (xs: Series[]) => (xs.length ? xs.reduce((n, x) => n + x.value, 0) : undefined);
const one = (s: Sample | undefined, name: string, match: Record<string, string> = {}) => sum(find(s, name, match));

/** A counter's rate between two samples (undefined without both, or across a reset). */
function rate(latest: Sample, previous: Sample | undefined, name: string, match: Record<string, string> = {}): number | undefined {
  const a = one(previous, name, match);
  const b = one(latest, name, match);
  if (a === undefined || b === undefined || !previous || latest.t <= previous.t || b < a) return undefined;
  return (b - a) / ((latest.t - previous.t) / 1000);
}

export function machineTop(machine: string, latest: Sample, previous?: Sample): MachineTop {
  const cpu = rate(latest, previous, "skiff_machine_cpu_seconds_total");
  const idle = rate(latest, previous, "skiff_machine_cpu_seconds_total", { mode: "idle" });
  const total = one(latest, "skiff_machine_memory_total_bytes");
  const avail = one(latest, "skiff_machine_memory_available_bytes");
  const disks = find(latest, "skiff_machine_disk_total_bytes").map((d) => {
    const free = one(latest, "skiff_machine_disk_free_bytes", { path: d.labels.path! });
    return d.value > 0 && free !== undefined ? 1 - free / d.value : 0;
  });
  return {
    machine,
    cpu: cpu && idle !== undefined ? Math.max(0, Math.min(1, 1 - idle / cpu)) : undefined,
    memoryTotal: total,
    memoryUsed: total !== undefined && avail !== undefined ? total - avail : undefined,
    diskUsed: disks.length ? Math.max(...disks) : undefined,
    load1: one(latest, "skiff_machine_load1"),
  };
}

export function appsTop(machine: string, latest: Sample, previous?: Sample): AppTop[] {
  const apps = new Map<string, { project: string; app: string }>();
  for (const s of latest.series) if (s.labels.project && s.labels.app) apps.set(`${s.labels.project}/${s.labels.app}`, { project: s.labels.project, app: s.labels.app });
  return [...apps.values()].map(({ project, app }) => {
    const m = { project, app };
    const req = rate(latest, previous, "skiff_app_http_responses_total", m);
    const err = rate(latest, previous, "skiff_app_http_responses_total", { ...m, code: "5xx" });
    const up = find(latest, "skiff_instance_up", m);
    return {
      project,
      app,
      machine,
      requestsPerS: req,
      errors: req && err !== undefined ? err / req : req === 0 ? 0 : undefined,
      responseS: one(latest, "skiff_app_response_time_seconds", { ...m, kind: "response" }),
      p95S: previous && latest.t > previous.t ? windowQuantiles(previous, latest, project, app).p95 : undefined,
      connections: one(latest, "skiff_app_connections", m),
      instances: up.length,
      instancesUp: up.filter((u) => u.value === 1).length,
      cpu: rate(latest, previous, "skiff_instance_cpu_seconds_total", m),
      memoryBytes: one(latest, "skiff_instance_memory_bytes", m),
      restarts: one(latest, "skiff_instance_restarts_total", m) ?? 0,
    };
  });
}
