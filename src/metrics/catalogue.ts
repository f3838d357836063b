// Every metric the agent samples: its name (Prometheus conventions: skiff_
// prefix, base units, _total on counters), its type and its help line. The
// sampler, the ring and the exposition name metrics only through this table,
// so a name cannot drift between what is stored and what is exposed.

export type MetricType = "counter" | "gauge" | "summary" | "histogram";

export interface MetricInfo {
  type: MetricType;
  help: string;
}

export const METRICS = {
  // machine (labels: machine, and mode/path/device)
  skiff_machine_cpus: { type: "gauge", help: "CPUs of the machine." },
  skiff_machine_cpu_seconds_total: { type: "counter", help: "CPU time of the whole machine by mode, summed over its CPUs (/proc/stat)." },
  skiff_machine_load1: { type: "gauge", help: "Load average over 1 minute (/proc/loadavg)." },
  skiff_machine_load5: { type: "gauge", help: "Load average over 5 minutes." },
  skiff_machine_load15: { type: "gauge", help: "Load average over 15 minutes." },
  skiff_machine_memory_total_bytes: { type: "gauge", help: "Memory of the machine (MemTotal)." },
  skiff_machine_memory_available_bytes: { type: "gauge", help: "Memory available to new work without swapping (MemAvailable)." },
  skiff_machine_disk_total_bytes: { type: "gauge", help: "Size of the filesystem holding path." },
  skiff_machine_disk_free_bytes: { type: "gauge", help: "Space left to unprivileged users on the filesystem holding path (statfs bavail)." },
  skiff_machine_disk_inodes: { type: "gauge", help: "Inodes of the filesystem holding path." },
  skiff_machine_disk_inodes_free: { type: "gauge", help: "Free inodes of the filesystem holding path." },
  skiff_machine_network_receive_bytes_total: { type: "counter", help: "Bytes received by the device (/proc/net/dev)." },
  skiff_machine_network_transmit_bytes_total: { type: "counter", help: "Bytes sent by the device (/proc/net/dev)." },
  // instance (labels: project, app, machine, instance, release)
  skiff_instance_up: { type: "gauge", help: "1 while the instance runs and passes its health checks, else 0." },
  skiff_instance_cpu_seconds_total: { type: "counter", help: "CPU time used by the instance (its cgroup)." },
  skiff_instance_memory_bytes: { type: "gauge", help: "Memory used by the instance, without the inactive page cache (its cgroup)." },
  skiff_instance_memory_limit_bytes: { type: "gauge", help: "The instance's memory limit (absent when it has none)." },
  skiff_instance_restarts_total: { type: "counter", help: "Restarts of the instance by the agent's supervisor." },
  skiff_instance_oom_kills_total: { type: "counter", help: "Processes of the instance killed by the kernel for lack of memory (its cgroup's oom_kill)." },
  // app, from this machine's HAProxy backend (labels: project, app, machine)
  skiff_app_release: { type: "gauge", help: "The app's active release number on this machine." },
  skiff_app_http_requests_total: { type: "counter", help: "HTTP requests the app's backend on this machine handled itself (req_tot, less what it forwarded to other machines)." },
  skiff_app_http_responses_total: { type: "counter", help: "HTTP responses from the app's backend by status class (hrsp_1xx … hrsp_5xx, other), less those other machines answered." },
  skiff_app_forwarded_requests_total: { type: "counter", help: "HTTP requests the app's backend handed to other machines over the mesh (counted there as theirs)." },
  skiff_app_connections: { type: "gauge", help: "Connections open to the app's backend now (scur)." },
  skiff_app_queue: { type: "gauge", help: "Requests waiting in the backend's queue for a free server (qcur)." },
  skiff_app_retries_total: { type: "counter", help: "Connection retries to the app's instances (wretr)." },
  skiff_app_redispatches_total: { type: "counter", help: "Requests sent to another instance after a failure (wredis)." },
  skiff_app_connection_errors_total: { type: "counter", help: "Failed connections to the app's instances (econ)." },
  skiff_app_response_errors_total: { type: "counter", help: "Responses that failed (eresp): the instance closed or answered garbage." },
  skiff_app_check_failures_total: { type: "counter", help: "Failed HAProxy health checks over the backend's servers (chkfail)." },
  skiff_app_servers_up: { type: "gauge", help: "Servers of the backend HAProxy sees UP, primary and backup." },
  skiff_app_response_time_seconds: { type: "gauge", help: "HAProxy's average over the last 1024 requests (kind: queue, connect, response = to the first byte, total)." },
  skiff_app_response_time_max_seconds: { type: "gauge", help: "The longest such time HAProxy has seen since it started (kind as above)." },
  // app, from the access log's lines as they arrive (request-durations.ts; labels: project, app, machine, le)
  skiff_app_http_request_duration_seconds: {
    type: "histogram",
    help: "Time of each HTTP request from its first byte to the response's last (HAProxy's Ta, in whole ms: what the client waited for, the body included, not the keep-alive idle before it), counted once, by the machine it entered (public, https or internal frontend; not the mesh frontend of a machine it was forwarded to). Counters restart with the agent.",
  },
  // deploys: this machine's part of each deploy, rollback and scale (labels: project, app, machine, action, result)
  skiff_deploys_total: { type: "counter", help: "Activations of a release on this machine, by action and result (history)." },
  skiff_deploy_duration_seconds: { type: "summary", help: "Time of those activations on this machine." },
  skiff_deploy_last_timestamp_seconds: { type: "gauge", help: "When the app's last activation here ended (Unix time)." },
  // the agent itself (labels: machine)
  skiff_agent_resident_memory_bytes: { type: "gauge", help: "Resident memory of the agent process." },
  skiff_agent_cpu_seconds_total: { type: "counter", help: "CPU time of the agent process." },
  skiff_metrics_sample_duration_seconds: { type: "gauge", help: "Time the last sample took to take." },
  skiff_metrics_series_dropped: { type: "gauge", help: "Series of the last sample that did not fit in a ring slot (not kept in history)." },
} as const satisfies Record<string, MetricInfo>;

export type MetricName = keyof typeof METRICS;

/** One value of one series: a metric and its labels (summaries and histograms add _sum, _count and _bucket). */
export interface Series {
  name: MetricName | `${MetricName}_sum` | `${MetricName}_count` | `${MetricName}_bucket`;
  labels: Record<string, string>;
  value: number;
}

/** Everything the agent saw at one moment. */
export interface Sample {
  /** Unix time in ms. */
  t: number;
  series: Series[];
}

/** The metric a series belongs to (summaries have _sum and _count series, histograms _bucket too). */
export function metricOf(name: string): MetricName | undefined {
  if (Object.hasOwn(METRICS, name)) return name as MetricName;
  const suffix = /_(sum|count|bucket)$/.exec(name);
  const base = suffix ? name.slice(0, suffix.index) : "";
  const type = Object.hasOwn(METRICS, base) ? METRICS[base as MetricName].type : undefined;
  return type === "histogram" || (type === "summary" && suffix![1] !== "bucket") ? (base as MetricName) : undefined;
}

/** A series' identity as the exposition writes it: name{a="x",b="y"} with labels sorted. */
export function seriesKey(s: Pick<Series, "name" | "labels">): string {
  const names = Object.keys(s.labels);
  if (!names.length) return s.name;
  names.sort();
  let key = `${s.name}{`;
  for (let i = 0; i < names.length; i++) key += `${i ? "," : ""}${names[i]}="${escapeLabel(s.labels[names[i]!]!)}"`;
  return `${key}}`;
}

const NEEDS_ESCAPE = /[\\"\n]/;

/** The text format's escaping of a label value: backslash, double quote and newline (most values have none). */
export function escapeLabel(v: string): string {
  return NEEDS_ESCAPE.test(v) ? v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n") : v;
}

/** A series key back into name and labels (what the ring stores is the key). */
export function parseSeriesKey(key: string): Pick<Series, "name" | "labels"> {
  const brace = key.indexOf("{");
  if (brace < 0) return { name: key as Series["name"], labels: {} };
  const labels: Record<string, string> = {};
  const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
  for (const m of key.slice(brace).matchAll(re)) labels[m[1]!] = m[2]!.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
  return { name: key.slice(0, brace) as Series["name"], labels };
}
