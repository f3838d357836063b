// The agents' metrics from the CLI's side: each machine's exposition and last
// samples over the agent RPC channel (`skiff metrics`, `skiff top`), and a
// Prometheus scrape config for the project's /metrics endpoints.
import type { Project } from "../config/model.ts";
import { UserError } from "../errors.ts";
import type { RpcParams } from "../contracts/rpc.ts";
import type { Sample } from "../metrics/catalogue.ts";
import { appsTop, machineTop, type AppTop, type MachineTop } from "../metrics/top.ts";
import { askAll } from "../transport/agent-client.ts";
import { machineProblem } from "./machine-problem.ts";
import { selectMachines } from "./machines.ts";

export type MachineAnswer<T> = ({ machine: string } & T) | { machine: string; problem: string; error: string };

/** The project with only the named machine (all without one); an unknown name is a UserError with a suggestion. */
function only(project: Project, machine?: string): Project {
  if (!machine) return project;
  const [m] = selectMachines(project, [machine]);
  return { ...project, machines: { [m!.name]: m! } };
}

/** Each machine's exposition: the project's series and the machine's own. */
export async function metricsText(project: Project, opts: { machine?: string } = {}): Promise<MachineAnswer<{ text: string; at: number }>[]> {
  const res = await askAll(only(project, opts.machine), (c) => c.call("metrics.text", { project: project.name }));
  return res.map((r) => (r.ok ? { machine: r.machine, text: r.value.text, at: r.value.at } : { machine: r.machine, problem: machineProblem(r.error), error: (r.error as Error).message }));
}

export interface HistoryQuery {
  machine?: string;
  /** From when (Unix ms; default: all the agents keep, 24 h). */
  sinceMs?: number;
  /** One sample per this many ms at most (default: every sample, 10 s apart). */
  stepMs?: number;
  /** Only these metrics (series names, as `skiff_app_http_request_duration_seconds_bucket`); default: all. */
  names?: string[];
}

/** Each machine's kept samples of the project's series and the machine's own, oldest first. */
export async function metricsHistory(project: Project, q: HistoryQuery = {}): Promise<MachineAnswer<{ samples: Sample[] }>[]> {
  const params: RpcParams<"metrics.history"> = { project: project.name, ...(q.sinceMs !== undefined ? { sinceMs: q.sinceMs } : {}), ...(q.stepMs ? { stepMs: q.stepMs } : {}), ...(q.names ? { names: q.names } : {}) };
  const res = await askAll(only(project, q.machine), (c) => c.call("metrics.history", params));
  return res.map((r) => (r.ok ? { machine: r.machine, samples: r.value.samples as Sample[] } : { machine: r.machine, problem: machineProblem(r.error), error: (r.error as Error).message }));
}

export interface TopView {
  machines: (MachineTop | { machine: string; problem: string })[];
  apps: AppTop[];
  at: number;
}

/** The live numbers per machine and per app (rates over the agents' last sampling interval). */
export async function metricsTop(project: Project, opts: { machine?: string } = {}): Promise<TopView> {
  const res = await askAll(only(project, opts.machine), (c) => c.call("metrics.current", { project: project.name }));
  const view: TopView = { machines: [], apps: [], at: Date.now() };
  for (const r of res) {
    if (!r.ok) {
      view.machines.push({ machine: r.machine, problem: machineProblem(r.error) });
      continue;
    }
    const { latest, previous } = r.value as { latest: Sample; previous?: Sample };
    view.machines.push(machineTop(r.machine, latest, previous));
    view.apps.push(...appsTop(r.machine, latest, previous));
  }
  return view;
}

const yamlString = (s: string) => JSON.stringify(s);

/** A scrape config for the project's machines (those with a private address: /metrics is served there only). */
export function prometheusConfig(project: Project): string {
  if (!project.metrics) {
    throw new UserError(`the agents serve /metrics over HTTP only when skiff.yml asks for it${project.environment ? ` (environment ${project.environment})` : ""}`, {
      hint: "add `metrics: { listen: true, allow: [<your Prometheus address>] }`, run `skiff setup` (or a deploy) to apply it, then print the scrape config again",
    });
  }
  const machines = Object.values(project.machines);
  const served = machines.filter((m) => m.privateAddress);
  const skipped = machines.filter((m) => !m.privateAddress).map((m) => m.name);
  const job = project.environment ? `skiff-${project.name}-${project.environment}` : `skiff-${project.name}`;
  const target = (a: string) => (a.includes(":") ? `[${a}]` : a);
  return [
    `# Prometheus scrape config for skiff project ${project.name}${project.environment ? ` (environment ${project.environment})` : ""}.`,
    `# Scrapers must come from: ${project.metrics.allow.join(", ") || "(none listed: only the machines themselves)"}.`,
    ...(skipped.length ? [`# Not scraped (no private_address): ${skipped.join(", ")}; read them with \`skiff metrics --machine NAME\`.`] : []),
    "scrape_configs:",
    `  - job_name: ${yamlString(job)}`,
    // The agents sample every 10 s: scraping faster returns the same numbers.
    "    scrape_interval: 10s",
    "    scrape_timeout: 5s",
    "    metrics_path: /metrics",
    "    static_configs:",
    `      - targets: [${served.map((m) => yamlString(`${target(m.privateAddress!)}:${project.metrics!.port}`)).join(", ")}]`,
    // A machine shared with another project serves that project's series too: keep this project's and the machine's.
    "    metric_relabel_configs:",
    "      - source_labels: [project]",
    `        regex: ${yamlString(`(${project.name})?`)}`,
    "        action: keep",
    "",
  ].join("\n");
}
