// One poll of the machines for every open page of the dashboard: pages read
// what it last gathered (views.ts) and never reach a machine themselves. It
// asks through the same API calls as the CLI (`skiff status`, `alerts`,
// `history`, the metrics history), each every few seconds at most, and only
// while a page has asked in the last `idleMs`: a dashboard left with no page
// open asks the machines nothing.
import type { AlertsReport } from "../api/alerts.ts";
import type { History } from "../api/history.ts";
import type { HistoryQuery, MachineAnswer } from "../api/metrics.ts";
import { isUnreachable, type MachineState } from "../api/status.ts";
import type { Sample } from "../metrics/catalogue.ts";
import { CHART_METRICS, forCharts } from "./series.ts";
import { RANGES, type Store } from "./views.ts";

/** The calls of the API the poll makes (a Skiff has them). */
export interface PollApi {
  status(): Promise<MachineState[]>;
  history(opts: { limit?: number }): Promise<History>;
  alerts: { list(): Promise<AlertsReport> };
  metrics: { history(q: HistoryQuery): Promise<MachineAnswer<{ samples: Sample[] }>[]> };
}

export interface PollOptions {
  /** Between two rounds (status each round; alerts and samples every other; history every third or when the
   *  status changed). */
  intervalMs: number;
  /** No page asked for this long: the poll stops until one does. */
  idleMs: number;
  now?: () => number;
}

const FINE_MS = RANGES["1h"].spanMs + 5 * 60_000;
const COARSE = RANGES["24h"];
const names = [...CHART_METRICS];

/** What changes when a deploy or rollback runs: each machine's active releases and instances. */
const shape = (status: MachineState[]) => JSON.stringify(status.map((m) => (isUnreachable(m) ? [m.machine] : [m.machine, m.apps.map((a) => [a.app, a.active, a.instances.map((i) => i.name)])])));

export class Poller {
  readonly store: Store;
  private lastAsked = 0;
  private loop?: Promise<void>;
  private round = 0;
  private lastShape = "";
  private firstRound?: Promise<void>;
  private coarseLoad?: Promise<void>;
  private wake?: () => void;
  private stopped = false;
  private readonly now: () => number;

  constructor(
    private readonly api: PollApi,
    project: { name: string; environment?: string | null },
    private readonly opts: PollOptions,
  ) {
    this.now = opts.now ?? Date.now;
    this.store = { project: project.name, environment: project.environment ?? null, fine: new Map(), at: {}, problems: [], intervalMs: opts.intervalMs };
  }

  /** A page asks: the poll runs (started if it was idle); resolves once the store holds a first round, and the day's
   *  samples when `coarse`. */
  async ask(opts: { coarse?: boolean } = {}): Promise<void> {
    this.lastAsked = this.now();
    if (!this.loop && !this.stopped) {
      let first!: () => void;
      this.firstRound = new Promise((r) => (first = r));
      this.loop = this.run(first).finally(() => (this.loop = undefined));
    }
    await this.firstRound;
    if (opts.coarse) await (this.coarseLoad ??= this.loadCoarse().catch((e) => void (this.coarseLoad = undefined, this.problem("24 h samples", e))));
  }

  /** A round now (after a rollback from the page: it shows at once, not at the next round). */
  refresh(): void {
    this.round = 0;
    this.wake?.();
  }

  stop(): void {
    this.stopped = true;
    this.wake?.();
  }

  private async run(first: () => void): Promise<void> {
    this.round = 0;
    while (!this.stopped && this.now() - this.lastAsked < this.opts.idleMs) {
      await this.poll();
      first();
      await new Promise<void>((r) => {
        const t = setTimeout(r, this.opts.intervalMs);
        this.wake = () => (clearTimeout(t), r());
      });
      this.wake = undefined;
    }
    first();
  }

  private async poll(): Promise<void> {
    const n = this.round++;
    const problems: string[] = [];
    this.store.problems = problems;
    const jobs: Promise<void>[] = [
      this.api.status().then((s) => {
        this.store.status = s;
        this.store.at.status = this.now();
        const now = shape(s);
        // A deploy or rollback under way: its history row and markers come as soon as it is recorded.
        if (now !== this.lastShape && n % 3 !== 0) void this.loadHistory(problems);
        this.lastShape = now;
      }, (e) => this.problem("status", e, problems)),
    ];
    if (n % 2 === 0) {
      jobs.push(
        this.api.alerts.list().then(
          (a) => {
            this.store.alerts = a;
            this.store.at.alerts = this.now();
          },
          (e) => this.problem("alerts", e, problems),
        ),
      );
      jobs.push(this.loadSamples().catch((e) => this.problem("metrics", e, problems)));
    }
    if (n % 3 === 0) jobs.push(this.loadHistory(problems));
    await Promise.all(jobs);
  }

  private loadHistory(problems: string[]): Promise<void> {
    return this.api.history({ limit: 500 }).then(
      (h) => {
        this.store.history = h;
        this.store.at.history = this.now();
      },
      (e) => this.problem("history", e, problems),
    );
  }

  /** The samples since each machine's last (the last hour at first), one call per machine. */
  private async loadSamples(): Promise<void> {
    const now = this.now();
    const last = Math.max(0, ...[...this.store.fine.values()].map((s) => s.at(-1)?.t ?? 0));
    const answers = await this.api.metrics.history({ sinceMs: Math.max(now - FINE_MS, last - 60_000), names });
    for (const a of answers) {
      if (!("samples" in a)) continue;
      const fine = this.store.fine.get(a.machine) ?? [];
      const newest = fine.at(-1)?.t ?? -Infinity;
      for (const s of a.samples) if (s.t > newest) fine.push(forCharts(s));
      while (fine.length && fine[0]!.t < now - FINE_MS) fine.shift();
      this.store.fine.set(a.machine, fine);
      const coarse = this.store.coarse?.get(a.machine);
      if (coarse) {
        for (const s of fine) if (s.t >= (coarse.at(-1)?.t ?? -Infinity) + COARSE.stepMs) coarse.push(s);
        while (coarse.length && coarse[0]!.t < now - COARSE.spanMs - COARSE.stepMs) coarse.shift();
      }
    }
    this.store.at.metrics = now;
    const missing = answers.filter((a) => "problem" in a).map((a) => `${a.machine}: ${"problem" in a ? a.problem : ""}`);
    if (missing.length) this.store.problems.push(`metrics of ${missing.join(", ")}`);
  }

  /** The day's samples, one per step, once (later ones come with the fine samples). */
  private async loadCoarse(): Promise<void> {
    const answers = await this.api.metrics.history({ sinceMs: this.now() - COARSE.spanMs - COARSE.stepMs, stepMs: COARSE.stepMs, names });
    this.store.coarse = new Map(answers.flatMap((a) => ("samples" in a ? [[a.machine, a.samples.map(forCharts)] as const] : [])));
  }

  private problem(what: string, e: unknown, into = this.store.problems): void {
    into.push(`${what}: ${String((e as Error)?.message ?? e).split("\n")[0]}`);
  }
}
