// What each page of the dashboard shows, as JSON, from what the poller last
// gathered (status, alerts, history, samples): the project, an app, a
// machine. Pure: the same store and time give the same view.
import type { AlertsReport } from "../api/alerts.ts";
import type { History, HistoryRow } from "../api/history.ts";
import { isUnreachable, type InstanceStatus, type MachineState } from "../api/status.ts";
import type { ActiveAlert } from "../contracts/alerts.ts";
import type { Sample } from "../metrics/catalogue.ts";
import { machineTop, type MachineTop } from "../metrics/top.ts";
import { appChart, grid, instanceMemory, machineChart, type Chart } from "./series.ts";

/** How far back each range goes and its step (24 h at the agents' 10 s would be 8640 points a line). */
export const RANGES = {
  live: { spanMs: 10 * 60_000, stepMs: 10_000 },
  "1h": { spanMs: 3_600_000, stepMs: 10_000 },
  "24h": { spanMs: 86_400_000, stepMs: 120_000 },
} as const;
export type Range = keyof typeof RANGES;
export const isRange = (r: unknown): r is Range => typeof r === "string" && Object.hasOwn(RANGES, r);

/** What the poller holds: the last answers, and each machine's samples (fine: every sample of the last hour;
 *  coarse: one per 2 minutes over 24 h, fetched once a page asks for that range). */
export interface Store {
  project: string;
  environment: string | null;
  status?: MachineState[];
  alerts?: AlertsReport;
  history?: History;
  fine: Map<string, Sample[]>;
  coarse?: Map<string, Sample[]>;
  /** When each part last came (Unix ms). */
  at: { status?: number; alerts?: number; history?: number; metrics?: number };
  /** What went wrong in the last poll, in a few words each. */
  problems: string[];
  /** How often the poller asks the machines. */
  intervalMs: number;
}

/** A marker on the charts: a deploy, rollback, scale or restart of the app. */
export interface Marker {
  t: number;
  action: string;
  release: number;
  ok: boolean;
  by?: string;
}

/** An instance as the app and machine views list it (the app view's name the machine, the machine view's the app). */
export interface InstanceRow {
  machine?: string;
  app?: string;
  name: string;
  release: number;
  state: "healthy" | "unhealthy" | "down";
  health?: string;
  restarts: number;
  startedAt: string;
  memory?: number;
  limit?: number;
  lastExit?: { code: number | null; oomKilled: boolean; reason: string };
}

/** A machine on the project view: why it does not answer, or its instances and its last numbers (`skiff top`'s). */
export interface MachineRow extends Omit<MachineTop, "machine"> {
  name: string;
  problem?: string;
  instances?: number;
}

const MARKED = new Set(["deploy", "rollback", "scale", "restart"]);

const rowOk = (r: HistoryRow) => Object.values(r.machines).every((m) => m.result === "ok");

/** The history rows of one app (all apps without a name) as markers between `from` and `to` (Unix ms). */
export function markers(history: History | undefined, app: string | undefined, from: number, to: number): Marker[] {
  return (history?.rows ?? [])
    .filter((r) => MARKED.has(r.action) && (!app || r.app === app))
    .map((r) => ({ t: Date.parse(r.at), action: r.action, release: r.release, ok: rowOk(r), ...(r.by ? { by: r.by } : {}) }))
    .filter((m) => m.t >= from && m.t <= to);
}

const reachable = (status: MachineState[] | undefined) => (status ?? []).flatMap((m) => (isUnreachable(m) ? [] : [m]));

/** Each machine's last two samples as `skiff top` numbers. */
function tops(store: Store): Map<string, MachineTop> {
  const out = new Map<string, MachineTop>();
  for (const [machine, s] of store.fine) if (s.length) out.set(machine, machineTop(machine, s.at(-1)!, s.at(-2)));
  return out;
}

const instanceState = (i: InstanceStatus): InstanceRow["state"] => (!i.running ? "down" : i.healthy ? "healthy" : "unhealthy");

const firingFor = (alerts: AlertsReport | undefined, pick: (a: ActiveAlert) => boolean) => ({ firing: (alerts?.firing ?? []).filter(pick), pending: (alerts?.pending ?? []).filter(pick) });

const freshness = (store: Store, now: number) => ({ now, polledAt: store.at, intervalMs: store.intervalMs, problems: store.problems });

export function overview(store: Store, now: number) {
  const top = tops(store);
  const apps = new Map<string, { name: string; releases: Record<string, number | null>; machines: Record<string, { instances: number; healthy: number }>; firing: number }>();
  for (const m of reachable(store.status)) {
    for (const a of m.apps) {
      const v = apps.get(a.app) ?? { name: a.app, releases: {}, machines: {}, firing: 0 };
      v.releases[m.machine] = a.active;
      v.machines[m.machine] = { instances: a.instances.length, healthy: a.instances.filter((i) => i.running && i.healthy).length };
      apps.set(a.app, v);
    }
  }
  for (const a of store.alerts?.firing ?? []) {
    const v = a.labels.app ? apps.get(a.labels.app) : undefined;
    if (v) v.firing++;
  }
  return {
    view: "project" as const,
    project: store.project,
    environment: store.environment,
    ...freshness(store, now),
    machines: (store.status ?? []).map((m): MachineRow => {
      const { machine: _m, ...figures } = top.get(m.machine) ?? { machine: m.machine };
      return { name: m.machine, ...(isUnreachable(m) ? { problem: m.problem } : { instances: m.apps.reduce((n, a) => n + a.instances.length, 0), ...figures }) };
    }),
    apps: [...apps.values()].sort((a, b) => a.name.localeCompare(b.name)).map((a) => ({ ...a, release: releaseOf(a.releases) })),
    alerts: { firing: store.alerts?.firing ?? [], pending: store.alerts?.pending ?? [], configured: store.alerts?.configured ?? false },
    history: (store.history?.rows ?? []).slice(-8).reverse(),
  };
}

/** The release most machines have active (the highest of a tie). */
function releaseOf(byMachine: Record<string, number | null>): number | null {
  const count = new Map<number, number>();
  for (const r of Object.values(byMachine)) if (r !== null) count.set(r, (count.get(r) ?? 0) + 1);
  return [...count].sort((a, b) => b[1] - a[1] || b[0] - a[0])[0]?.[0] ?? null;
}

function chartTimes(range: Range, now: number) {
  const { spanMs, stepMs } = RANGES[range];
  const to = Math.floor(now / stepMs) * stepMs;
  return { times: grid(to - spanMs, to, stepMs), from: to - spanMs, to: now, stepMs };
}

const samplesFor = (store: Store, range: Range) => (range === "24h" ? (store.coarse ?? new Map<string, Sample[]>()) : store.fine);

export function appView(store: Store, app: string, range: Range, now: number) {
  const { times, from, to, stepMs } = chartTimes(range, now);
  const releases: Record<string, number | null> = {};
  const instances: InstanceRow[] = [];
  let found = false;
  for (const m of reachable(store.status)) {
    const mem = instanceMemory(store.fine.get(m.machine)?.at(-1));
    for (const a of m.apps.filter((x) => x.app === app)) {
      found = true;
      releases[m.machine] = a.active;
      for (const i of a.instances) {
        const used = mem.get(i.name);
        instances.push({ machine: m.machine, name: i.name, release: i.release, state: instanceState(i), health: i.health, restarts: i.restarts, startedAt: i.startedAt, ...(used?.bytes !== undefined ? { memory: used.bytes } : {}), ...(used?.limit !== undefined ? { limit: used.limit } : {}), ...(i.lastExit ? { lastExit: i.lastExit } : {}) });
      }
    }
  }
  const chart: Chart = appChart(samplesFor(store, range), store.project, app, times, stepMs);
  return {
    view: "app" as const,
    project: store.project,
    app,
    found,
    range,
    ...freshness(store, now),
    release: releaseOf(releases),
    releases,
    instances,
    chart,
    markers: markers(store.history, app, from, to),
    alerts: firingFor(store.alerts, (a) => a.labels.app === app),
    history: (store.history?.rows ?? []).filter((r) => r.app === app).slice(-20).reverse(),
  };
}

export function machineView(store: Store, machine: string, range: Range, now: number) {
  const { times, from, to, stepMs } = chartTimes(range, now);
  const state = (store.status ?? []).find((m) => m.machine === machine);
  const mem = instanceMemory(store.fine.get(machine)?.at(-1));
  const instances: InstanceRow[] = state && !isUnreachable(state)
    ? state.apps.flatMap((a) => a.instances.map((i) => ({ app: a.app, name: i.name, release: i.release, state: instanceState(i), restarts: i.restarts, startedAt: i.startedAt, ...(mem.get(i.name)?.bytes !== undefined ? { memory: mem.get(i.name)!.bytes } : {}), ...(mem.get(i.name)?.limit !== undefined ? { limit: mem.get(i.name)!.limit } : {}) })))
    : [];
  return {
    view: "machine" as const,
    project: store.project,
    machine,
    found: state !== undefined,
    range,
    ...freshness(store, now),
    ...(state && isUnreachable(state) ? { problem: state.problem } : {}),
    top: tops(store).get(machine) ?? null,
    instances,
    chart: machineChart(samplesFor(store, range).get(machine) ?? [], machine, times, stepMs),
    markers: markers(store.history, undefined, from, to),
    alerts: firingFor(store.alerts, (a) => a.labels.machine === machine),
  };
}
