// What the agent answers: request → response. Each method's parameters are
// checked against its schema (contracts/rpc.ts) before the core is called; the
// core does the work. The table can be called in-process by tests.
import { createHash } from "node:crypto";
import { readFileSync, statfsSync } from "node:fs";
import { arch, cpus, freemem, hostname, totalmem, uptime } from "node:os";
import type { AgentInfo } from "../contracts/agent-info.ts";
import type { LogPage, LogQuery } from "../contracts/logs.ts";
import { parseParams, type RpcCheckedParams, type RpcMethod, type RpcResult } from "../contracts/rpc.ts";
import { previousRelease } from "../contracts/served.ts";
import type { AgentCore } from "./core.ts";
import type { Jobs } from "./jobs.ts";
import { fence } from "./fence.ts";
import type { AutoTls } from "./acme-auto.ts";
import { agentTlsFacts } from "./tls-facts.ts";
import type { Firewall } from "./firewall.ts";
import { exposition, projectOrMachine } from "../metrics/exposition.ts";
import type { Ring } from "../metrics/ring.ts";
import type { Alerts } from "./alerts.ts";
import type { Backups } from "./backups.ts";
import { backupKey, prepareStore } from "./backup-store.ts";
import { restore, restoreBeforeServing, verify } from "./backup-restore.ts";
import type { MetricsListener } from "./metrics-listener.ts";
import { SAMPLE_INTERVAL_MS, type MetricsSampler } from "./metrics-sampler.ts";
import type { Sample } from "../metrics/catalogue.ts";

export type { AgentInfo };

declare const __AGENT_VERSION__: string;
export const AGENT_VERSION = typeof __AGENT_VERSION__ === "string" ? __AGENT_VERSION__ : "dev";

export function agentInfo(file: string, startedAt: Date): AgentInfo {
  let sha256 = "unknown";
  try {
    sha256 = createHash("sha256").update(readFileSync(file)).digest("hex");
  } catch {}
  return { version: AGENT_VERSION, sha256, node: process.version, pid: process.pid, startedAt: startedAt.toISOString() };
}

export type Handler = (params: unknown) => unknown | Promise<unknown>;

type Impl = { [M in RpcMethod]?: (params: RpcCheckedParams<M>) => RpcResult<M> | Promise<RpcResult<M>> };

/** The handler table: each method's parameters checked first (a bad one is an RPC error naming the field). */
function checked(impl: Impl): Record<string, Handler> {
  const table: Record<string, Handler> = {};
  for (const [method, fn] of Object.entries(impl) as [RpcMethod, (p: unknown) => unknown][]) {
    table[method] = (params) => fn(parseParams(method, params));
  }
  return table;
}

/** A job start's identity (Jobs.start): the method and its parameters, hashed (kept for the job's hour). */
const startOf = (method: string, params: object): string => createHash("sha256").update(method).update("\0").update(JSON.stringify(params)).digest("base64");

function machineFacts(stateDir: string) {
  let disk: { freeBytes: number; totalBytes: number } | undefined;
  try {
    const s = statfsSync(stateDir);
    disk = { freeBytes: s.bavail * s.bsize, totalBytes: s.blocks * s.bsize };
  } catch {}
  return { hostname: hostname(), arch: arch(), cpus: cpus().length, uptimeS: Math.round(uptime()), memory: { totalBytes: totalmem(), freeBytes: freemem() }, disk };
}

export interface MetricsParts {
  sampler: MetricsSampler;
  listener?: MetricsListener;
  ring?: Ring;
}

const only = (s: Sample, project: string | undefined): Sample => (project ? { t: s.t, series: s.series.filter((x) => projectOrMachine(project)(x.labels)) } : s);

/** The metrics methods: the last sample (taken now when none is yet), as text or as data, and the history. */
function metricsImpl(m: MetricsParts): Impl {
  return {
    "metrics.text": async (p) => {
      const s = await m.sampler.current();
      return { text: exposition(s, p?.project ? projectOrMachine(p.project) : undefined), at: s.t };
    },
    "metrics.current": async (p) => {
      const s = m.sampler.latest ?? (await m.sampler.sample());
      const prev = m.sampler.previous;
      return { latest: only(s, p?.project), ...(prev ? { previous: only(prev, p?.project) } : {}), intervalMs: SAMPLE_INTERVAL_MS };
    },
    "metrics.history": ({ project, prefix, names, sinceMs, stepMs }) => {
      const named = names && new Set(names);
      const nameOf = (key: string) => (key.includes("{") ? key.slice(0, key.indexOf("{")) : key);
      const keep = (key: string) => (!prefix || key.startsWith(prefix)) && (!named || named.has(nameOf(key))) && (!project || !key.includes('project="') || key.includes(`project="${project}"`));
      return { samples: m.ring?.range(sinceMs ?? 0, keep, stepMs ?? 0) ?? [], slots: m.ring?.opts.slots ?? 0, slotBytes: m.ring?.opts.slotBytes ?? 0 };
    },
  };
}

/** Where the firewall's entries ask for /metrics: the listener follows them after every change. */
async function followMetrics(firewall: Firewall, listener: MetricsListener | undefined) {
  const status = firewall.status();
  if (!listener) return status;
  const problems = await listener.set(status.entries.flatMap((e) => (e.metrics ? [{ address: e.metrics.address, port: e.metrics.port }] : [])));
  return { ...status, metrics: { listening: listener.listening(), problems } };
}

export { followMetrics };

export function handlers(info: AgentInfo, core?: AgentCore, jobs?: Jobs, firewall?: Firewall, metrics?: MetricsParts, logs?: (q: LogQuery) => Promise<LogPage>, auto?: AutoTls, alerts?: Alerts, backups?: Backups): Record<string, Handler> {
  const base: Impl = {
    ping: () => "pong",
    version: () => info,
    state: async () => ({ agent: info, machine: machineFacts(core?.store.dir ?? "/"), apps: core ? await core.view() : [], damaged: core?.store.damageReport() ?? [], tls: core && agentTlsFacts(core.proxy, auto) }),
  };
  if (!core || !jobs) return checked(base);
  const { store } = core;
  const needAuto = () => {
    if (!auto) throw new Error("this agent does not run tls: auto");
    return auto;
  };
  const afterwards = <T>(r: T): T => (auto?.wake(), r);
  return checked({
    ...base,
    "image.has": ({ image, runtime }) => core.rt({ runtime }).hasImage(image),
    "image.id": async ({ image }) => (await core.rt({}).imageId?.(image)) ?? null,
    "release.put": ({ spec }) => (store.putRelease(spec), true),
    "release.list": ({ project, app, specs, to, newest }) => {
      const releases = store.releases(project, app);
      const active = store.state(project, app).active;
      if (specs !== "rollback" && newest === undefined) return { releases, active };
      // With the active spec: a deploy's plan, the newest releases' (which it may reuse); a rollback's, its likely
      // target's here (the CLI decides it over every machine; a second round reads any other).
      const also =
        specs === "rollback"
          ? [to ?? (active === null ? undefined : previousRelease([store.historyServed(project, app)], active).to)]
          : [...releases].sort((a, b) => b - a).slice(0, newest);
      const wanted = [...new Set([active, ...also].filter((n): n is number => typeof n === "number" && releases.includes(n)))];
      const specsOf = Object.fromEntries(wanted.map((n) => [n, store.release(project, app, n) ?? null]));
      // A deploy's or scale's plan: where the app's instances and peers stand here too, which its rollout starts from.
      return { releases, active, specs: specsOf, ...(newest !== undefined ? { list: core.instanceList(project, app) } : {}) };
    },
    "release.get": ({ project, app, release }) => store.release(project, app, release) ?? null,
    activate: (params) => {
      core.rememberMachineName(params.machine);
      const { restore: snapshot } = params;
      if (snapshot && !backups) throw new Error("this agent runs no backups: it cannot restore a moved database");
      const activation = () => core.activate(params, snapshot && backups ? { beforeServing: (fresh) => restoreBeforeServing(backups, core.machine, { ...params, snapshot }, fresh) } : {});
      // Where the app now stands here goes with the result: the rollout need not ask before it tells the peers.
      return { job: jobs.start(async () => ({ ...(await activation()), list: core.instanceList(params.project, params.app) }), params.job, startOf("activate", params)) };
    },
    "hook.run": (params) => {
      core.rememberMachineName(params.machine);
      return { job: jobs.start(() => core.runHook(params), params.job, startOf("hook.run", params)) };
    },
    capacity: () => ({
      // What placement needs, from the saved state only (no runtime calls, unlike `state`).
      cpus: cpus().length,
      memoryBytes: totalmem(),
      apps: store.apps().map(({ project, app }) => {
        const st = store.state(project, app);
        return { project, app, active: st.active, limits: st.active !== null ? store.release(project, app, st.active)?.limits : undefined, instances: st.instances.length };
      }),
    }),
    "instances.list": ({ project, app }) => core.instanceList(project, app),
    "peers.set": ({ project, app, peers }) => core.setPeers(project, app, peers).then(() => true as const),
    "mesh.key": ({ project }) => core.meshKey(project).then((publicKey) => ({ publicKey })),
    "mesh.install": (p) => core.meshInstall(p),
    "mesh.list": () => {
      const loaded = new Set(core.proxy.meshProjects());
      return core.mesh.list().map((c) => ({ ...c, loaded: loaded.has(c.project) }));
    },
    "tls.set": ({ id, hosts, cert, key }) => core.proxy.setTlsCert(id, hosts, cert, key),
    "tls.auto": async (e) => ({ cert: await needAuto().register(e) }),
    // A certificate that came by RPC changes when the next renewal is due: the tick looks again.
    "tls.issue": async ({ id }) => afterwards(await needAuto().issue(id)),
    "tls.pull": async ({ id }) => afterwards(await needAuto().pull(id)),
    "tls.list": () => (auto ? auto.list() : []),
    "tls.prune": async ({ project, app, keep }) => {
      await auto?.forget(project, app, keep);
      return { removed: await core.proxy.pruneTlsCerts(project, app, keep) };
    },
    "job.wait": ({ job, timeoutMs }) => jobs.wait(job, Math.min(timeoutMs ?? 20_000, 60_000)),
    "app.hold": (params) => core.holdApp(params),
    "app.remove": async ({ project, app, holder, onlyIfActive }) => {
      const r = await core.removeApp(project, app, { holder, onlyIfActive });
      // Its tls: auto hosts: no renewals, no challenge answers (the certificates went with the app).
      if (r.kept === undefined) await auto?.forget(project, app, []).catch(() => {});
      // The project's last app here: this machine no longer takes part in its alerts (nor answers its peers' rounds),
      // and its firewall word goes (and skiff's table, when no other project is here). A firewall failure is logged
      // and shown by `firewall.get`; the app is gone either way.
      const last = !store.apps().some((a) => a.project === project);
      if (last) alerts?.forget(project);
      // …nor keeps its backup jobs (with their password).
      if (last) backups?.forget(project);
      if (firewall && last) {
        await firewall.forget(project).catch(() => {});
        await followMetrics(firewall, metrics?.listener);
      }
      return r;
    },
    // `report: true` also returns the damaged lines (skipped); plain callers get the records only.
    history: (f = {}) => (f.report ? store.historyReport(f) : store.history(f)),
    "history.served": ({ project, app }) => store.historyServed(project, app),
    // The whole command's record, under the same lock as its changes (a deploy that lost it records nothing).
    "history.add": ({ entry, machine, holder }) => {
      fence(store, entry.project, holder);
      store.appendHistory({ ...entry, machine, summary: true });
      return true as const;
    },
    "lock.acquire": ({ project, info: i }) => store.acquireLock(project, { holder: i.holder, host: i.host, pid: i.pid ?? 0, command: i.command, since: i.since, heartbeat: i.heartbeat ?? "" }),
    "lock.heartbeat": ({ project, holder }) => store.heartbeat(project, holder),
    "lock.release": ({ project, holder, force, staleAfterMs }) => store.releaseLock(project, { holder, force: force === true, staleAfterMs }),
    "lock.info": ({ project }) => store.lockInfo(project) ?? null,
    ...(firewall && {
      "firewall.set": async (entry) => {
        const r = await firewall.set(entry);
        return { ...r, status: await followMetrics(firewall, metrics?.listener) };
      },
      "firewall.get": () => ({ ...firewall.status(), ...(metrics?.listener ? { metrics: { listening: metrics.listener.listening(), problems: [] } } : {}) }),
    }),
    ...(metrics && metricsImpl(metrics)),
    ...(logs && { "logs.read": (q) => logs(q) }),
    ...(backups && {
      "backups.set": ({ project, jobs: list }) => backups.set(project, list),
      "backups.key": ({ machine }) => ({ publicKey: backupKey(backups.dir, machine) }),
      "backups.store": ({ project, keys, merge, bases }) => prepareStore(backups.dir, project, keys, merge, bases),
      "backup.run": (p) => ({ job: jobs.start(() => backups.run(p.project, p.app, { by: p.by, keepAll: p.keepAll, final: p.final, holder: p.holder }), p.job, startOf("backup.run", p)) }),
      "backup.list": ({ project, app }) => backups.list(project, app),
      "backup.restore": (p) => ({ job: jobs.start(() => restore(backups, core.machine, p), p.job, startOf("backup.restore", p)) }),
      "backup.verify": (p) => ({ job: jobs.start(() => verify(backups, core.machine, p), p.job, startOf("backup.verify", p)) }),
    }),
    ...(alerts && {
      "alerts.set": (cfg) => alerts.set(cfg),
      "alerts.off": ({ project }) => ({ changed: alerts.forget(project) }),
      "alerts.get": ({ project }) => alerts.view(project),
    }),
  });
}
