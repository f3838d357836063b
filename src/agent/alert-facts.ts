// What this machine saw, for the alert rules: the sampler hands over each sample
// (every 10 s); a short memory of the counters the rules need (at most an hour)
// answers "how many requests, errors, restarts, OOM kills within the window".
// Every machine keeps its own, so a new leader needs no warm-up: it asks.
import type { AlertRules, AppFacts, CommandFact, MachineFacts } from "../contracts/alerts.ts";
import type { HistoryEntry } from "../contracts/model.ts";
import type { TlsHostFacts } from "../contracts/tls-facts.ts";
import type { Sample } from "../metrics/catalogue.ts";
import { bucketIncrease } from "../metrics/quantile.ts";

/** The longest window a rule may name (and so the memory's length). */
export const MAX_WINDOW_MS = 3_600_000;

interface Seen {
  t: number;
  /** "project/app" → cumulative counters on this machine. */
  apps: Map<string, { requests: number; errors: number; latency?: Map<number, number> }>;
  /** "project/app" → instance → cumulative restarts / OOM kills. */
  restarts: Map<string, Map<string, number>>;
  oom: Map<string, Map<string, number>>;
  disk: { path: string; total: number; free: number }[];
  memory?: { total: number; available: number };
}

const LATENCY = "skiff_app_http_request_duration_seconds_bucket";

export class AlertFacts {
  private seen: Seen[] = [];
  /** "project/app" → the newest whole-command record. */
  private readonly commands = new Map<string, CommandFact>();
  /** Per project/app, the newest backup run here. */
  private readonly backups = new Map<string, NonNullable<MachineFacts["lastBackup"]>[string]>();

  constructor(
    private readonly machine: () => string,
    /** The machine's HTTPS certificates (tls-facts.ts): read once per sample, however many peers ask. */
    private readonly tls: () => TlsHostFacts[] | undefined = () => undefined,
    /** Whether a service has backups configured now (backups.ts): the last run of one that no longer has says nothing. */
    private readonly backedUp: (project: string, app: string) => boolean = () => true,
  ) {}

  /** The certificates as read since the last sample (null: not read yet). */
  private certs: TlsHostFacts[] | undefined | null = null;

  /** One sample from the sampler. */
  observe(s: Sample): void {
    this.certs = null;
    const x: Seen = { t: s.t, apps: new Map(), restarts: new Map(), oom: new Map(), disk: [] };
    const disk = new Map<string, { total?: number; free?: number }>();
    const app = (l: Record<string, string>) => {
      const k = `${l.project}/${l.app}`;
      let a = x.apps.get(k);
      if (!a) x.apps.set(k, (a = { requests: 0, errors: 0 }));
      return a;
    };
    const inst = (m: Map<string, Map<string, number>>, l: Record<string, string>, v: number) => {
      const k = `${l.project}/${l.app}`;
      if (!m.has(k)) m.set(k, new Map());
      m.get(k)!.set(l.instance!, v);
    };
    for (const se of s.series) {
      const l = se.labels;
      switch (se.name as string) {
        case "skiff_app_http_requests_total":
          app(l).requests = se.value;
          break;
        case "skiff_app_http_responses_total":
          if (l.code === "5xx") app(l).errors = se.value;
          break;
        case LATENCY: {
          const a = app(l);
          (a.latency ??= new Map()).set(l.le === "+Inf" ? Infinity : Number(l.le), se.value);
          break;
        }
        case "skiff_instance_restarts_total":
          inst(x.restarts, l, se.value);
          break;
        case "skiff_instance_oom_kills_total":
          inst(x.oom, l, se.value);
          break;
        case "skiff_machine_disk_total_bytes":
          disk.set(l.path!, { ...disk.get(l.path!), total: se.value });
          break;
        case "skiff_machine_disk_free_bytes":
          disk.set(l.path!, { ...disk.get(l.path!), free: se.value });
          break;
        case "skiff_machine_memory_total_bytes":
          x.memory = { available: x.memory?.available ?? 0, total: se.value };
          break;
        case "skiff_machine_memory_available_bytes":
          x.memory = { total: x.memory?.total ?? 0, available: se.value };
          break;
      }
    }
    // One filesystem seen under two paths (skiff's state on the root disk) is one subject.
    const fs = new Set<string>();
    for (const [path, d] of disk) {
      if (d.total === undefined || d.free === undefined || d.total <= 0) continue;
      if (fs.has(`${d.total}/${d.free}`)) continue;
      fs.add(`${d.total}/${d.free}`);
      x.disk.push({ path, total: d.total, free: d.free });
    }
    this.seen.push(x);
    while (this.seen.length > 1 && this.seen[0]!.t < s.t - MAX_WINDOW_MS) this.seen.shift();
  }

  /** A history record (the agent's store tells each one as it is written, and the old ones at start). */
  command(e: HistoryEntry): void {
    if (e.action === "backup") {
      const k = `${e.project}/${e.app}`;
      const had = this.backups.get(k);
      const reason = e.reason ? { reason: e.reason.slice(0, 300) } : {};
      // The newest failure is kept beside the newest run: one followed by a good run within a round is still told.
      const failure = e.result === "ok" ? had?.lastFailure : !had?.lastFailure || Date.parse(had.lastFailure.at) <= Date.parse(e.at) ? { at: e.at, ...reason } : had.lastFailure;
      if (!had || Date.parse(had.at) <= Date.parse(e.at)) this.backups.set(k, { at: e.at, result: e.result, ...reason, ...(e.backup?.snapshot ? { snapshot: e.backup.snapshot } : {}), ...(failure ? { lastFailure: failure } : {}) });
      else if (failure !== had.lastFailure) this.backups.set(k, { ...had, ...(failure ? { lastFailure: failure } : {}) });
      return;
    }
    if (!e.summary || !["deploy", "rollback", "restart"].includes(e.action)) return;
    const k = `${e.project}/${e.app}`;
    const had = this.commands.get(k);
    if (had && Date.parse(had.at) > Date.parse(e.at)) return;
    this.commands.set(k, { at: e.at, action: e.action, result: e.result, release: e.release, ...(e.by ? { by: e.by } : {}), ...(e.reason ? { reason: e.reason.slice(0, 300) } : {}) });
  }

  /** The facts of one project over the windows its rules name (none yet: no sample taken). */
  facts(project: string, rules: AlertRules): MachineFacts | undefined {
    const now = this.seen[this.seen.length - 1];
    if (!now) return undefined;
    const since = (ms: number) => this.seen.find((x) => x.t >= now.t - ms) ?? now;
    const errW = since(rules.errorRate?.windowMs ?? 60_000);
    const latW = since(rules.latencyP95?.windowMs ?? 60_000);
    const rstW = since(rules.restarts?.withinMs ?? 600_000);
    const oomW = since(rules.oom?.withinMs ?? 600_000);
    const apps: Record<string, AppFacts> = {};
    const prefix = `${project}/`;
    const names = new Set([...now.apps.keys(), ...now.restarts.keys()].filter((k) => k.startsWith(prefix)));
    for (const k of names) {
      const a = now.apps.get(k);
      const b = errW.apps.get(k);
      // A counter that went down was reset (HAProxy restarted): what it counts since is the whole delta.
      const delta = (n: number, o: number | undefined) => (o === undefined || n < o ? n : n - o);
      const f: AppFacts = {
        requests: a ? delta(a.requests, b?.requests) : 0,
        errors: a ? delta(a.errors, b?.errors) : 0,
        windowMs: now.t - errW.t,
        restarts: perInstance(now.restarts.get(k), rstW.restarts.get(k)),
        oomKills: perInstance(now.oom.get(k), oomW.oom.get(k)),
      };
      if (a?.latency?.size) f.latency = bucketIncrease(a.latency, latW.apps.get(k)?.latency);
      apps[k.slice(prefix.length)] = f;
    }
    const lastCommand: Record<string, CommandFact> = {};
    // Every app's, also one with nothing running here (its first deploy failed): the leader keeps those of the
    // apps in skiff.yml.
    for (const [k, c] of this.commands) if (k.startsWith(prefix)) lastCommand[k.slice(prefix.length)] = c;
    const lastBackup: NonNullable<MachineFacts["lastBackup"]> = {};
    const wall = Date.now();
    for (const [k, b] of this.backups)
      if (k.startsWith(prefix) && this.backedUp(project, k.slice(prefix.length)))
        lastBackup[k.slice(prefix.length)] = b.lastFailure ? { ...b, lastFailure: { ...b.lastFailure, agoMs: Math.max(0, wall - Date.parse(b.lastFailure.at)) } } : b;
    if (this.certs === null) this.certs = this.tls();
    const certs = this.certs
      ?.filter((c) => c.project === project)
      .map((c) => ({ id: c.id, hosts: c.hosts, ...(c.cert ? { notAfter: c.cert.notAfter } : {}), ...(c.auto?.lastResult === "failed" ? { failing: { ...(c.auto.failingSince ? { since: c.auto.failingSince } : {}), ...(c.auto.lastError ? { error: c.auto.lastError } : {}) } } : {}) }));
    return {
      machine: this.machine(),
      t: now.t,
      ...(certs ? { certs } : {}),
      disk: now.disk.map((d) => ({ path: d.path, used: 1 - d.free / d.total })),
      ...(now.memory?.total ? { memoryUsed: 1 - now.memory.available / now.memory.total } : {}),
      apps,
      lastCommand,
      lastBackup,
    };
  }
}

/** Per instance: what its counter gained within the window (an instance started inside it: all of its count). */
function perInstance(now: Map<string, number> | undefined, then: Map<string, number> | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [i, n] of now ?? []) {
    const o = then?.get(i);
    out[i] = o === undefined || n < o ? n : n - o;
  }
  return out;
}
