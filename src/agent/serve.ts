// `skiff-agent serve`: the long-lived agent. main.ts loads this file only for
// `serve`, so the short-lived commands (`connect` runs once per ssh session)
// start without the agent's modules.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { REQUEST_LOG_ADDR } from "../contracts/logs.ts";
import { REQUEST_RING } from "../proxy/log-format.ts";
import { RUN_DIR, STATE_DIR } from "../contracts/paths.ts";
import { DockerRuntime } from "../runtime/docker.ts";
import { ProcessRuntime } from "../runtime/process.ts";
import { AutoTls } from "./acme-auto.ts";
import { AlertFacts } from "./alert-facts.ts";
import { Alerts } from "./alerts.ts";
import { Backups } from "./backups.ts";
import { agentTlsFacts } from "./tls-facts.ts";
import { machineName } from "./identity.ts";
import { serveTlsShare } from "./acme-share.ts";
import { AgentCore } from "./core.ts";
import { Firewall } from "./firewall.ts";
import { agentInfo, followMetrics, handlers, type MetricsParts } from "./handlers.ts";
import { MetricsListener } from "./metrics-listener.ts";
import { MetricsSampler, SAMPLE_INTERVAL_MS } from "./metrics-sampler.ts";
import { Ring, ringDir } from "../metrics/ring.ts";
import type { RequestDurations } from "../metrics/request-durations.ts";
import { RuntimeApi } from "../proxy/runtime-api.ts";
import { Jobs } from "./jobs.ts";
import { machineInternalAddrs } from "./internal-names.ts";
import { haproxyPrivileges, ProxyController } from "./proxy.ts";
import { logService } from "./log-service.ts";
import { listen } from "./server.ts";
import { Store } from "./store.ts";

/** One agent per machine: a `serve` left running (its supervisor killed, or an older setup's) is stopped before this one starts. */
function takeOver(pidFile: string, log: (s: string) => void): void {
  mkdirSync(dirname(pidFile), { recursive: true, mode: 0o700 });
  try {
    const old = Number(readFileSync(pidFile, "utf8").trim());
    if (old && old !== process.pid && readFileSync(`/proc/${old}/cmdline`, "utf8").includes("skiff-agent")) {
      log(`stopping an older agent (pid ${old})`);
      process.kill(old, "SIGKILL");
    }
  } catch {}
  writeFileSync(pidFile, `${process.pid}\n`);
}

/** The sampler with its history on disk (without one when the disk refuses: the numbers still serve). */
function metricsParts(core: AgentCore, stateDir: string, haproxySocket: string, log: (s: string) => void, facts: AlertFacts, durations: RequestDurations): MetricsParts {
  let ring: Ring | undefined;
  try {
    ring = new Ring(ringDir(stateDir), undefined, log);
  } catch (e) {
    log(`metrics: no history kept: ${(e as Error).message}`);
  }
  const haproxy = new RuntimeApi(haproxySocket);
  const sampler = new MetricsSampler({ store: core.store, runtimes: core.runtimes, health: core.health, haproxyStat: () => haproxy.showStat(), durations, ring, log, onSample: (x) => facts.observe(x), onHistory: (e) => facts.command(e) });
  return { sampler, ring, listener: new MetricsListener(sampler, log) };
}

export function serve(self: string, socket: string, log: (s: string) => void): void {
  const info = agentInfo(self, new Date());
  const stateDir = process.env.SKIFF_STATE_DIR || STATE_DIR;
  const runDir = process.env.SKIFF_RUN_DIR || RUN_DIR;
  takeOver(join(runDir, "agent.pid"), log);
  const store = new Store(stateDir, { onDamage: (what) => log(`state: ${what}`) });
  // HAProxy's access log goes to the agent (log-requests.ts: a ring forwarded over TCP) unless SKIFF_PROXY_LOG
  // names another target (a syslog address) or is "off".
  const own = !process.env.SKIFF_PROXY_LOG;
  const logTarget = process.env.SKIFF_PROXY_LOG === "off" ? undefined : own ? `ring@${REQUEST_RING}` : process.env.SKIFF_PROXY_LOG;
  const proxy = new ProxyController({ dir: join(stateDir, "proxy"), statsSocket: join(runDir, "haproxy.sock"), pidFile: join(runDir, "haproxy.pid"), logTarget, ...(own ? { requestRing: REQUEST_LOG_ADDR } : {}), ...haproxyPrivileges() }, Number(process.env.SKIFF_HTTP_PORT || 80), log);
  const logs = logService({ stateDir, store, agentFile: self, log });
  const core = new AgentCore(store, { docker: logs.wrap("docker", new DockerRuntime()), process: logs.wrap("process", new ProcessRuntime(stateDir)) }, proxy, log);
  // The internal frontend's non-loopback addresses (Docker's gateway) are the firewall's to guard.
  const gateways = async () => (await machineInternalAddrs())?.filter((a) => !a.startsWith("127."));
  // tls: auto renewals (acme-auto.ts); SKIFF_ACME_NO_CERT_GRACE_MS only for tests that start without a deploy's order.
  const auto = new AutoTls(proxy, core.mesh, log, Number(process.env.SKIFF_ACME_NO_CERT_GRACE_MS) || undefined);
  const firewall = new Firewall(join(stateDir, "firewall.json"), core.mutex, log, undefined, gateways);
  // Alerts (alerts.ts): the sampler's samples and history records are their facts; peers ask over the mesh share.
  const backups = new Backups(core.machine, join(stateDir, "backups"));
  const facts = new AlertFacts(() => machineName(store), () => agentTlsFacts(proxy, auto), (project, app) => backups.configured(project, app));
  const alerts = new Alerts(join(stateDir, "alerts"), facts, core.mesh, log);
  const metrics = metricsParts(core, stateDir, join(runDir, "haproxy.sock"), log, facts, logs.durations);
  core
    .reconcile()
    .catch((e: Error) => log(`reconcile: ${e.message}`))
    // A reboot empties the kernel's tables: the firewall is back before the agent answers anyone.
    .then(() => firewall.reapply().catch((e: Error) => log(`firewall: not applied at start: ${e.message}`)))
    .then(() => serveTlsShare(auto, proxy.tlsDir(), proxy.tlsShare.path, proxy.tlsShare.group, log, alerts).catch((e: Error) => log(`tls share: not served: ${e.message}`)))
    .then(() => followMetrics(firewall, metrics.listener))
    .then(() => listen(socket, handlers(info, core, new Jobs(), firewall, metrics, logs.read, auto, alerts, backups)))
    .then(
      (server) => {
        core.startSupervisor();
        logs.start(own ? REQUEST_LOG_ADDR : undefined);
        auto.start();
        alerts.start();
        backups.start();
        // SKIFF_METRICS_INTERVAL_MS=0 turns sampling off: bench/metrics-cost.ts measures the agent without it.
        const every = Number(process.env.SKIFF_METRICS_INTERVAL_MS ?? SAMPLE_INTERVAL_MS);
        if (every > 0) metrics.sampler.start(Math.max(1000, every));
        log(`agent ${info.version} (${info.sha256.slice(0, 12)}) listening on ${socket}`);
        const stop = () => {
          // Stop at once: open RPC connections must not keep an old agent alive next to a new one.
          core.stopSupervisor();
          metrics.sampler.stop();
          metrics.listener?.close();
          logs.stop();
          auto.stop();
          alerts.stop();
          backups.stop();
          server.close();
          log("stopping");
          setTimeout(() => process.exit(0), 200).unref();
        };
        process.on("SIGTERM", stop);
        process.on("SIGINT", stop);
      },
      (e: Error) => {
        log(`cannot start: ${e.message}`);
        process.exit(1);
      },
    );
}
