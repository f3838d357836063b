// Defaults and units: the "as written" config becomes the Project the rest of skiff uses.
import { resolve } from "node:path";
import { DEFAULT_METRICS_PORT, type BackupSpec, type BackupTo, type AlertReceiverSpec, type AlertRulesSpec, type AlertsSpec, type AppSpec, type MachineSpec, type MaxParallel, type Project, type RouteTlsSpec } from "./model.ts";
import type { AccessoryInput, AppInput, ConfigInput } from "./schema.ts";
import { parseDuration, parseMemory } from "./duration.ts";

export const DEFAULTS = {
  user: "root",
  port: 3000,
  instances: 1,
  httpPort: 80,
  httpsPort: 443,
  hstsS: 31536000,
  acmeDirectory: "https://acme-v02.api.letsencrypt.org/directory",
  health: { path: "/healthz", interval: "1s", timeout: "2s", healthyThreshold: 2, deadline: "60s" },
  accessoryStop: "30s",
  deploy: { maxParallel: "50%" as MaxParallel, canary: 1, canaryWait: "0s", drain: "30s", stop: "10s", keepReleases: 10, probation: "30s" },
} as const;

const str = (v: string | number | boolean) => String(v);

export function normalize(c: ConfigInput, file: string, dir: string, environment: string | undefined): Project {
  const machines: Record<string, MachineSpec> = {};
  for (const [name, m] of Object.entries(c.machines)) {
    machines[name] = {
      name,
      host: m.host,
      local: m.host === "local",
      port: m.port,
      user: m.user ?? DEFAULTS.user,
      identityFile: m.ssh?.identity_file,
      proxyJump: m.ssh?.proxy_jump,
      sshOptions: Object.fromEntries(Object.entries(m.ssh?.options ?? {}).map(([k, v]) => [k, String(v)])),
      labels: m.labels ?? [],
      privateAddress: m.private_address,
      httpPort: m.http_port ?? DEFAULTS.httpPort,
      httpsPort: m.https_port ?? DEFAULTS.httpsPort,
      ...(m.firewall === false ? { firewall: false } : {}),
    };
  }
  // Accessories first: a deploy of everything starts the databases before the apps (and their migrations) need them.
  const apps: Record<string, AppSpec> = {};
  for (const [name, x] of Object.entries(c.accessories ?? {})) apps[name] = accessorySpec(name, x, dir);
  for (const [name, a] of Object.entries(c.apps ?? {})) apps[name] = appSpec(name, a, c.env, dir);
  const metrics = c.metrics?.listen ? { port: c.metrics.port ?? DEFAULT_METRICS_PORT, allow: [...new Set(c.metrics.allow ?? [])] } : undefined;
  const alerts = c.alerts?.enabled === false ? undefined : alertsSpec(c.alerts ?? {});
  return { name: c.project, file, dir, environment, machines, apps, secrets: { recipients: c.secrets?.recipients ?? [] }, ...(metrics ? { metrics } : {}), ...(alerts ? { alerts } : {}), acme: { directory: c.acme?.directory ?? DEFAULTS.acmeDirectory, ...(c.acme?.email ? { email: c.acme.email } : {}), ...(c.acme?.ca ? { caFile: resolve(dir, c.acme.ca) } : {}) } };
}

/** One app, defaults applied; `env` is the project's (every app gets it). */
function appSpec(name: string, a: AppInput, env: ConfigInput["env"], dir: string): AppSpec {
  const h = a.health ?? {};
  return {
    name,
    image: a.image,
    build: a.build && { context: resolve(dir, a.build.context ?? "."), dockerfile: a.build.dockerfile ?? "Dockerfile", args: a.build.args ?? {} },
    run: a.run,
    artifact: a.artifact === undefined ? undefined : typeof a.artifact === "string" ? { dir: resolve(dir, a.artifact) } : { dir: resolve(dir, a.artifact.dir), build: a.artifact.build },
    user: a.run ? a.user : undefined, // unset: the agent runs the app as a user of its own (skiff_<project>_<app>)
    resources: { cpus: a.resources?.cpu, memoryBytes: a.resources?.memory === undefined ? undefined : parseMemory(a.resources.memory) },
    port: a.port ?? DEFAULTS.port,
    protocol: a.protocol ?? "http",
    ...(a.protocol === "tcp" ? { internalPort: a.internal_port ?? a.port ?? DEFAULTS.port } : {}),
    instances: a.instances,
    placement: { machines: a.machines, labels: a.labels ?? [], strategy: a.strategy ?? "spread" },
    health: {
      // A TCP app without an HTTP path is checked by a TCP connect.
      ...(h.path !== undefined || a.protocol !== "tcp" ? { path: h.path ?? DEFAULTS.health.path } : {}),
      intervalMs: parseDuration(h.interval ?? DEFAULTS.health.interval),
      timeoutMs: parseDuration(h.timeout ?? DEFAULTS.health.timeout),
      healthyThreshold: h.healthy_threshold ?? DEFAULTS.health.healthyThreshold,
      deadlineMs: parseDuration(h.deadline ?? DEFAULTS.health.deadline),
    },
    routes: (a.routes ?? []).map((r) => ({ host: r.host, path: r.path ?? "/", ...(r.tls ? { tls: routeTls(r.tls, dir) } : {}) })),
    env: Object.fromEntries(Object.entries({ ...env, ...a.env }).map(([k, v]) => [k, str(v)])),
    files: Object.entries(a.files ?? {}).map(([path, f]) => (typeof f === "string" ? { path, source: resolve(dir, f), mode: 0o644, template: false } : { path, source: resolve(dir, f.source), mode: f.mode ? parseInt(f.mode, 8) : f.template ? 0o600 : 0o644, template: f.template ?? false })),
    volumes: Object.entries(a.volumes ?? {}).map(([name, path]) => ({ name, path })),
    ...(a.logs?.max_size !== undefined ? { logMaxBytes: parseMemory(a.logs.max_size) } : {}),
    ...(a.backups ? { backups: backupSpec(a.backups) } : {}),
    hooks: { preDeploy: a.hooks?.pre_deploy, timeoutMs: parseDuration(a.hooks?.timeout ?? "10m") },
    secrets: Array.isArray(a.secrets) ? Object.fromEntries(a.secrets.map((n) => [n, n])) : { ...(a.secrets ?? {}) },
    deploy: {
      maxParallel: (a.deploy?.max_parallel as MaxParallel | undefined) ?? DEFAULTS.deploy.maxParallel,
      canary: a.deploy?.canary ?? DEFAULTS.deploy.canary,
      canaryWaitMs: parseDuration(a.deploy?.canary_wait ?? DEFAULTS.deploy.canaryWait),
      drainMs: parseDuration(a.deploy?.drain_timeout ?? DEFAULTS.deploy.drain),
      stopTimeoutS: Math.ceil(parseDuration(a.deploy?.stop_timeout ?? DEFAULTS.deploy.stop) / 1000),
      keepWarm: a.deploy?.keep_warm ?? false,
      keepReleases: a.deploy?.keep_releases ?? DEFAULTS.deploy.keepReleases,
      probationMs: parseDuration(a.deploy?.probation ?? DEFAULTS.deploy.probation),
    },
  };
}

/** An accessory is an app of one instance pinned to its machine, replaced stop-first: no drain (its old instance
 *  is stopped before the new one starts), no probation, no warm copy. The project's `env` is not given to it, so
 *  a change meant for the apps never restarts a database. */
function accessorySpec(name: string, x: AccessoryInput, dir: string): AppSpec {
  const { machine, stop_timeout, stop_signal, keep_releases, ...rest } = x;
  const spec = appSpec(name, { ...rest, protocol: x.protocol ?? "tcp", instances: 1, machines: [machine], deploy: { max_parallel: 1, canary: 0, stop_timeout: stop_timeout ?? DEFAULTS.accessoryStop, keep_releases } }, undefined, dir);
  return { ...spec, accessory: { machine }, ...(stop_signal && stop_signal !== "SIGTERM" ? { stopSignal: stop_signal } : {}), deploy: { ...spec.deploy, drainMs: 0, probationMs: 0, keepWarm: false } };
}

/** skiff.yml's `backups`, defaults applied; `to` parsed ("m3", "m3:/path", "/dir", "s3:https://…"). */
export function backupSpec(b: NonNullable<AppInput["backups"]>): BackupSpec {
  const to: BackupTo = b.to.startsWith("s3:") ? { kind: "s3", url: b.to } : b.to.startsWith("/") ? { kind: "dir", path: b.to } : b.to.includes(":") ? { kind: "machine", machine: b.to.slice(0, b.to.indexOf(":")), path: b.to.slice(b.to.indexOf(":") + 1) } : { kind: "machine", machine: b.to };
  const keep = b.keep ?? { daily: 7, weekly: 4, monthly: 6 };
  return { kind: b.kind ?? "volumes", schedule: b.schedule ?? "0 3 * * *", keep: { ...keep }, to, passwordSecret: b.password_secret ?? "BACKUP_PASSWORD" };
}

/** `tls: auto`, `{ auto: true }` or `{ cert, key }` (the rules make sure it is one of them). */
function routeTls(t: NonNullable<NonNullable<ConfigInput["apps"]>[string]["routes"]>[number]["tls"], dir: string): RouteTlsSpec {
  const o = t === "auto" ? { auto: true as const } : t!;
  const hsts = o.hsts ? { hstsS: o.hsts === true ? DEFAULTS.hstsS : o.hsts } : {};
  return o.auto ? { auto: true, ...hsts } : { cert: resolve(dir, o.cert!), key: o.key!, ...hsts };
}

/** "5%" or 0.05 → 0.05. */
const share = (v: string | number | undefined, dflt: number) => (v === undefined ? dflt : typeof v === "number" ? v : parseFloat(v) / 100);
const ms = (v: string | number | undefined, dflt: string) => parseDuration(v ?? dflt);

/** skiff.yml's `alerts`, with every rule on at its defaults unless switched off. */
export function alertsSpec(a: NonNullable<ConfigInput["alerts"]>): AlertsSpec {
  const r = a.rules ?? {};
  const on = <T>(v: T | false | undefined): v is Exclude<T, false> | undefined => v !== false;
  const rules: AlertRulesSpec = {};
  if (on(r.error_rate)) rules.errorRate = { above: share(r.error_rate?.above, 0.05), forMs: ms(r.error_rate?.for, "2m"), windowMs: ms(r.error_rate?.window, "1m"), minRequests: r.error_rate?.min_requests ?? 20 };
  if (on(r.latency_p95)) rules.latencyP95 = { aboveMs: ms(r.latency_p95?.above, "2s"), forMs: ms(r.latency_p95?.for, "5m"), windowMs: ms(r.latency_p95?.window, "5m"), minRequests: r.latency_p95?.min_requests ?? 20 };
  if (on(r.restarts)) rules.restarts = { above: r.restarts?.above ?? 3, withinMs: ms(r.restarts?.within, "10m") };
  if (r.oom !== false) rules.oom = { withinMs: ms(typeof r.oom === "object" ? r.oom.within : undefined, "10m") };
  if (on(r.disk)) rules.disk = { above: share(r.disk?.above, 0.9), forMs: ms(r.disk?.for, "1m") };
  if (on(r.memory)) rules.memory = { above: share(r.memory?.above, 0.95), forMs: ms(r.memory?.for, "5m") };
  if (on(r.machine_down)) rules.machineDown = { forMs: ms(r.machine_down?.for, "1m") };
  if (r.deploy_failed !== false) rules.deployFailed = {};
  if (r.backup_failed !== false) rules.backupFailed = {};
  if (on(r.certificate)) rules.certificate = { days: r.certificate?.days ?? 14 };
  const receivers: AlertReceiverSpec[] = (a.to ?? []).map((t) => {
    const format = t.slack ? ("slack" as const) : ("json" as const);
    if (t.command) return { kind: "command", argv: [...t.command] };
    return t.webhook_secret ? { kind: "webhook", secret: t.webhook_secret, format } : { kind: "webhook", url: t.webhook!, format };
  });
  return { intervalMs: ms(a.interval, "10s"), rules, receivers };
}
