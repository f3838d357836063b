// The agent's metrics sampler: every interval (10 s), one Sample of the machine
// (/proc, statfs), each instance (its cgroup), each app (HAProxy's `show stat`
// and the request-duration histogram the request log counts), each app's
// deploys (history) and the agent itself; the last one is served as the
// exposition and every one goes into the ring (24 h on disk). One pass
// reads a handful of small files and one socket answer; see bench/metrics-cost.ts.
import { existsSync } from "node:fs";
import { cpuUsage, memoryUsage } from "node:process";
import type { HistoryEntry, InstanceRecord } from "../contracts/model.ts";
import type { Sample, Series } from "../metrics/catalogue.ts";
import { appSeries, parseShowStat } from "../metrics/haproxy-stat.ts";
import { machineSeries, realProc, type ProcSource } from "../metrics/proc.ts";
import type { RequestDurations } from "../metrics/request-durations.ts";
import type { Ring } from "../metrics/ring.ts";
import { backendName } from "../proxy/model.ts";
import { cgroupFiles, pidsOf, procCpuSeconds, readCgroup, type CgroupFiles } from "../runtime/cgroup-stats.ts";
import type { Runtime, RuntimeKind } from "../runtime/types.ts";
import type { HealthBook } from "./health-book.ts";
import { machineName } from "./identity.ts";
import { DeployTally } from "./metrics-deploys.ts";
import { StateCache } from "./state-cache.ts";
import type { Store } from "./store.ts";

export const SAMPLE_INTERVAL_MS = 10_000;

export interface SamplerDeps {
  store: Store;
  runtimes: Partial<Record<RuntimeKind, Runtime>>;
  health: HealthBook;
  /** HAProxy's `show stat` CSV (rejects when HAProxy is not running). */
  haproxyStat: () => Promise<string>;
  /** The apps' request-duration histograms, counted by the request log as lines arrive. */
  durations?: RequestDurations;
  ring?: Ring;
  proc?: ProcSource;
  log?: (s: string) => void;
  now?: () => number;
  /** Each sample kept in the history (the alert rules' facts), and each history record read (deploy alerts). */
  onSample?: (s: Sample) => void;
  onHistory?: (e: HistoryEntry) => void;
}

export class MetricsSampler {
  private timer?: NodeJS.Timeout;
  private readonly cache: StateCache;
  private readonly deploys: DeployTally;
  /** Instance → its cgroup directories and the files there to read, found once (a restart keeps the container and
   *  its group). */
  private readonly groups = new Map<string, { dirs: string[]; files: CgroupFiles }>();
  private running?: Promise<Sample>;
  /** The last two samples kept in the history (`skiff top` takes rates between them). */
  latest?: Sample;
  previous?: Sample;
  /** Values the last kept sample had no room for in its ring slot. */
  private dropped = 0;

  constructor(private readonly d: SamplerDeps) {
    this.cache = new StateCache(d.store);
    this.deploys = new DeployTally(d.store.dir, d.onHistory);
  }

  start(intervalMs = SAMPLE_INTERVAL_MS): void {
    if (this.timer) return;
    const tick = () => void this.sample().catch((e: Error) => this.d.log?.(`metrics: ${e.message}`));
    tick();
    this.timer = setInterval(tick, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One sample now, kept in the history (a second caller while one runs gets the same). */
  sample(): Promise<Sample> {
    this.running ??= this.take(true).finally(() => (this.running = undefined));
    return this.running;
  }

  /**
   * For a scrape: the numbers as they are now (a sample at most `maxAgeMs` old), not kept in the history. A
   * scraper whose interval equals the sampler's would otherwise see some 10 s steps twice and others never,
   * by the phase between the two clocks, and its rates would be off by a step (±20 % over a minute).
   */
  current(maxAgeMs = 1000): Promise<Sample> {
    const now = (this.d.now ?? Date.now)();
    // Not one that read the apps' state before a write since (a deploy that just ended here): a sample takes a while
    // on a loaded machine (a status per instance), and is stamped when it ends.
    const gen = this.d.store.generation;
    const last = this.lastTaken;
    if (last && now - last.sample.t <= maxAgeMs && last.gen === gen) return Promise.resolve(last.sample);
    if (this.fresh?.gen !== gen) {
      const p: Promise<Sample> = this.take(false).finally(() => this.fresh?.p === p && (this.fresh = undefined));
      this.fresh = { p, gen };
    }
    return this.fresh.p;
  }

  private fresh?: { p: Promise<Sample>; gen: number };
  /** The newest sample of either kind, and the store's generation when it read the apps' state. */
  private lastTaken?: { sample: Sample; gen: number };

  private async take(record: boolean): Promise<Sample> {
    const started = performance.now();
    const gen = this.d.store.generation;
    const now = this.d.now ?? Date.now;
    const machine = machineName(this.d.store);
    const series: Series[] = machineSeries(machine, [...new Set(["/", this.d.store.dir])], this.d.proc ?? realProc);
    const apps = new Map<string, { project: string; app: string }>();
    const seen = new Set<string>();
    for (const { project, app, state } of this.cache.apps()) {
      apps.set(backendName(project, app), { project, app });
      if (state.active !== null) series.push({ name: "skiff_app_release", labels: { project, app, machine }, value: state.active });
      for (const inst of [...state.instances, ...state.warm]) {
        seen.add(inst.name);
        series.push(...(await this.instance(project, app, machine, inst)));
      }
    }
    for (const name of this.groups.keys()) if (!seen.has(name)) this.groups.delete(name);
    try {
      series.push(...appSeries(parseShowStat(await this.d.haproxyStat(), (px) => apps.has(px)), apps, machine));
    } catch {
      // No HAProxy yet (no app deployed here) or it is restarting: no app numbers in this sample.
    }
    if (this.d.durations) series.push(...this.d.durations.series(machine, (backend) => apps.has(backend)));
    this.deploys.catchUp();
    series.push(...this.deploys.series(machine, new Set([...apps.values()].map((a) => `${a.project}/${a.app}`))));
    const cpu = cpuUsage();
    series.push({ name: "skiff_agent_resident_memory_bytes", labels: { machine }, value: memoryUsage.rss() });
    series.push({ name: "skiff_agent_cpu_seconds_total", labels: { machine }, value: (cpu.user + cpu.system) / 1e6 });
    series.push({ name: "skiff_metrics_sample_duration_seconds", labels: { machine }, value: (performance.now() - started) / 1000 });
    series.push({ name: "skiff_metrics_series_dropped", labels: { machine }, value: this.dropped });
    const sample: Sample = { t: now(), series };
    // Two takes may overlap (a kept one and a scrape's): the one that read the newer state stays the newest.
    if (gen >= (this.lastTaken?.gen ?? -1)) this.lastTaken = { sample, gen };
    if (!record) return sample;
    let dropped = 0;
    try {
      dropped = this.d.ring?.append(sample) ?? 0;
    } catch (e) {
      this.d.log?.(`metrics: history not written: ${(e as Error).message}`);
    }
    this.dropped = dropped;
    this.previous = this.latest;
    this.latest = sample;
    this.d.onSample?.(sample);
    return sample;
  }

  private async instance(project: string, app: string, machine: string, inst: InstanceRecord): Promise<Series[]> {
    const labels = { project, app, machine, instance: inst.name, release: String(inst.release) };
    const rt = this.d.runtimes[inst.runtime ?? "docker"];
    const out: Series[] = [{ name: "skiff_instance_restarts_total", labels, value: inst.restarts }];
    let running = false;
    try {
      running = rt ? (await rt.status(inst.name)).running : false;
    } catch {}
    const h = this.d.health.get(inst.name);
    out.push({ name: "skiff_instance_up", labels, value: running && (h?.healthy ?? true) ? 1 : 0 });
    if (!rt?.cgroupDirs || !running) return out;
    let g = this.groups.get(inst.name);
    if (!g?.dirs.length || !g.dirs.every((d) => existsSync(d))) {
      const dirs = await rt.cgroupDirs(inst.name).catch(() => []);
      this.groups.set(inst.name, (g = { dirs, files: cgroupFiles(dirs) }));
    }
    const u = readCgroup(g.files);
    // No cpuacct for the group (v1 with cpu and cpuacct mounted apart and only cpu set): the processes' own times.
    const cpu = u.cpuSeconds ?? procCpuSeconds(pidsOf(g.dirs));
    if (cpu !== undefined) out.push({ name: "skiff_instance_cpu_seconds_total", labels, value: cpu });
    if (u.memoryBytes !== undefined) out.push({ name: "skiff_instance_memory_bytes", labels, value: u.memoryBytes });
    if (u.memoryLimitBytes !== undefined) out.push({ name: "skiff_instance_memory_limit_bytes", labels, value: u.memoryLimitBytes });
    if (u.oomKills !== undefined) out.push({ name: "skiff_instance_oom_kills_total", labels, value: u.oomKills });
    return out;
  }
}
