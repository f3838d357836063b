// haproxy.cfg from ProxyState: pure but for one input, the machine's CPU count
// (threads), when the caller does not give it. The rendered file carries every
// slot's address and state, so an HAProxy restart comes back as it was.
import { availableParallelism } from "node:os";
import { INTERNAL_ADDR } from "../contracts/internal-names.ts";
import { internalFrontendLines } from "./internal.ts";
import { CHECK_HEADER, MESH_UP_PATH } from "../contracts/mesh.ts";
import { dropClientMarks, meshFrontendLines, meshTcpFrontendLines, peerTls } from "./mesh.ts";
import { acmeChallengeLines, httpsFrontendHead, httpsPortOf, redirectLine, tlsBackends, tlsShareBackendLines } from "./tls.ts";
import type { ProxyBackend, ProxyState } from "./model.ts";
import { REQUEST_LOG_FORMAT, REQUEST_RING, requestRingLines } from "./log-format.ts";
import { isTcp, peerBackendName, tcpBackendHead, tcpDefaultsLines, tcpFrontendLines } from "./tcp.ts";
import { checkHealthPath, checkHost, checkLocalPath, checkName, checkPort, checkRoutePath, ProxyValueError, quoted, serverAddress } from "./values.ts";
import { byCodeUnit } from "../lib/order.ts";

export interface ProxyPaths {
  statsSocket: string;
  pidFile: string;
  /** syslog target for request logs (e.g. 127.0.0.1:5140, or ring@skiff_requests with requestRing), off when absent. */
  logTarget?: string;
  /** With logTarget ring@skiff_requests: where the ring forwards the lines (the agent, addr:port over TCP). */
  requestRing?: string;
  /** Drop root: HAProxy binds its ports and stats socket and writes its pid file as root, then chroots and
   *  runs as this user and group (Debian's package makes `haproxy` and /var/lib/haproxy). */
  user?: string;
  group?: string;
  chroot?: string;
  /** HAProxy's threads (nbthread); absent: proxyThreads of this machine's CPUs (the agent renders on the machine). */
  threads?: number;
}

/** Threads for HAProxy on a machine with `cpus` CPUs that it shares with the apps it fronts: one per CPU but one,
 *  from 1 to 4 (HAProxy's own default is one per CPU). HAProxy spends a fraction of what the app spends per
 *  request, so on a 2-core machine a second thread only competes with the app for the same cores: measured with
 *  wrk on a 2-core bed machine, proxied/direct 0.88 and 0.84 with one thread, 0.80 and 0.78 with two (same run). */
export function proxyThreads(cpus: number): number {
  return Math.max(1, Math.min(4, Math.floor(cpus) - 1 || 1));
}

const q = (s: string) => `"${s.replace(/["\\]/g, "\\$&")}"`;

/** Most specific first: routes with a host, then longer paths. */
function orderedRoutes(backends: ProxyBackend[]) {
  return backends
    .flatMap((b) => b.routes.map((r) => ({ ...r, backend: b.name, httpsPort: httpsPortOf(b) })))
    .sort((a, b) => Number(b.host !== undefined) - Number(a.host !== undefined) || b.path.length - a.path.length || byCodeUnit(a.backend, b.backend));
}

/** Why the log target cannot be used, if it cannot: HAProxy opens a unix socket path (/dev/log) when it sends,
 *  after it has chrooted, so the path would name a file inside the chroot and the logs would go nowhere. */
export function logTargetProblem(paths: Pick<ProxyPaths, "logTarget" | "chroot">): string | undefined {
  if (!paths.logTarget?.startsWith("/") || !paths.chroot) return undefined;
  return `the request log target ${paths.logTarget} is a socket path, which HAProxy would look up inside its chroot ${paths.chroot}; request logs are off (use an address such as 127.0.0.1:514)`;
}

/** A health check's timeout as HAProxy takes it: whole milliseconds within the schema's bounds (1 ms to 10 min). */
function checkTimeout(ms: unknown, what: string): number {
  if (typeof ms !== "number" || !Number.isInteger(ms) || ms < 1 || ms > 600_000) throw new ProxyValueError(what, ms, "a timeout is a whole number of milliseconds from 1 to 600000");
  return ms;
}

/** skiff's default health timeout (config/normalize.ts), for a backend saved before it carried its own. */
const DEFAULT_CHECK_TIMEOUT_MS = 2000;

/** Every value that reaches the file is checked here first (see values.ts): a bad one throws before anything is written. */
export function renderConfig(state: ProxyState, paths: ProxyPaths): string {
  checkLocalPath(paths.statsSocket, "stats socket");
  checkLocalPath(paths.pidFile, "pid file");
  if (paths.logTarget) checkLocalPath(paths.logTarget, "log target");
  // Keep the chroot (it limits what a compromised HAProxy reaches) and drop a log target that cannot work in it.
  const logTarget = logTargetProblem(paths) ? undefined : paths.logTarget;
  if (paths.user) checkName(paths.user, "user");
  if (paths.group) checkName(paths.group, "group");
  if (paths.chroot) checkLocalPath(paths.chroot, "chroot");
  checkPort(state.httpPort, "http port");
  const threads = paths.threads ?? proxyThreads(availableParallelism());
  if (!Number.isInteger(threads) || threads < 1 || threads > 64) throw new ProxyValueError("threads", threads, "HAProxy runs 1 to 64 threads");
  const out = [
    "# Written by the skiff agent from its proxy state. Changes here are overwritten.",
    "global",
    `  stats socket ${paths.statsSocket} mode 600 level admin expose-fd listeners`,
    `  pidfile ${paths.pidFile}`,
    ...(paths.chroot ? [`  chroot ${paths.chroot}`] : []),
    ...(paths.user ? [`  user ${paths.user}`] : []),
    ...(paths.group ? [`  group ${paths.group}`] : []),
    "  hard-stop-after 60s",
    `  nbthread ${threads}`,
    ...(logTarget ? [`  log ${logTarget} local0`] : []),
    "",
    "defaults",
    "  mode http",
    // On a reload the old process answers a keep-alive client's next request (with Connection: close) instead of
    // closing its idle connection under it: without this, a request sent at that moment fails.
    "  option idle-close-on-response",
    ...(logTarget ? ["  log global", `  log-format ${REQUEST_LOG_FORMAT}`] : []),
    "  timeout connect 2s",
    "  timeout client 60s",
    "  timeout server 60s",
    "  timeout http-request 10s",
    "  timeout http-keep-alive 60s",
    // A WebSocket or other upgraded connection is a tunnel: quiet for a minute is normal there, so it gets an hour
    // (the client and server timeouts would cut it at 60 s). Draining a slot leaves its tunnels open: the app
    // closes them when it is stopped (SIGTERM).
    "  timeout tunnel 1h",
    // Keep-alive to the instances (HAProxy's default, said here on purpose): idle server connections that have
    // served a response are shared by all clients, so Connection: close clients reuse them too (measured on 2.6:
    // 160 such requests took 8 server connections). Not "always": it adds nothing here and would send a client's
    // first request over a connection never proven reusable. Safe across a switch: HAProxy 2.6 drops a server's
    // idle connections when it goes to maint (measured), so a re-addressed slot never gets a request over a
    // connection to its previous instance.
    "  http-reuse safe",
    "  timeout queue 10s",
    "  retries 10",
    "  option redispatch 1",
    "  retry-on all-retryable-errors",
  ];
  // One public frontend per port; each routes only to the apps that asked for that port (http_port).
  const http = state.backends.filter((b) => !isTcp(b));
  const portOf = (b: ProxyBackend) => checkPort(b.httpPort ?? state.httpPort, `http port of ${b.name}`);
  const acmePorts = (state.acme ?? []).flatMap((a) => (a.httpPort !== undefined && a.hosts.length ? [checkPort(a.httpPort, "ACME http port")] : []));
  const appPorts = http.map(portOf);
  const ports = [...new Set([...(appPorts.length ? appPorts : [state.httpPort]), ...acmePorts])].sort((a, b) => a - b);
  for (const port of ports) {
    out.push("", port === state.httpPort ? "frontend public" : `frontend public_${port}`, `  bind :${port}`, ...dropClientMarks());
    // Any machine of a project may be the one the CA reaches: each answers for all the project's auto hosts.
    out.push(...acmeChallengeLines(state.acme ?? []));
    routeLines(http.filter((b) => portOf(b) === port), out, Boolean(state.tlsCrtList));
    out.push("  default_backend skiff_no_route");
  }
  // HTTPS (tls routes): one frontend per https_port, rendered only when some route has tls.
  const secure = tlsBackends(state);
  for (const port of [...new Set(secure.map(httpsPortOf))].sort((a, b) => a - b)) {
    const here = secure.filter((b) => httpsPortOf(b) === port);
    out.push(...httpsFrontendHead(state, port, here), ...dropClientMarks());
    routeLines(here, out, false);
    out.push("  default_backend skiff_no_route");
  }
  // Internal names (APP.internal) on addresses of this machine alone: see internal.ts.
  out.push(...internalFrontendLines(state));
  // Other machines of a project hand requests to this one here (mutual TLS): see mesh.ts.
  out.push(...meshFrontendLines(state));
  out.push("", "backend skiff_no_route", `  http-request return status 404 content-type text/plain string ${q("skiff: no app routes this request\n").replace("\n", "\\n")}`);
  backendLines(state, http, out);
  out.push(...tlsShareBackendLines(state));
  // TCP apps last, under their own defaults (tcp.ts).
  const tcp = state.backends.filter(isTcp);
  if (tcp.length) {
    out.push(...tcpDefaultsLines(Boolean(logTarget)));
    for (const b of tcp) out.push(...tcpFrontendLines(b, state.internalAddrs ?? [INTERNAL_ADDR]));
    out.push(...meshTcpFrontendLines(state));
    backendLines(state, tcp, out);
  }
  if (logTarget === `ring@${REQUEST_RING}` && paths.requestRing) out.push(...requestRingLines(checkLocalPath(paths.requestRing, "request ring server")));
  return out.join("\n") + "\n";
}

/** A frontend's routes: ACLs, then (plain HTTP, `redirect`) the 301s of tls routes, then use_backend lines
 *  (HAProxy runs http-request rules before use_backend anyway; in this order it does not warn). */
function routeLines(backends: ProxyBackend[], out: string[], redirect: boolean): void {
  const uses: string[] = [];
  orderedRoutes(backends).forEach((r, i) => {
    const conds: string[] = [];
    checkName(r.backend, "backend name");
    if (r.host !== undefined) {
      out.push(`  acl r${i}_host hdr(host),field(1,:) -i ${quoted(checkHost(r.host))}`);
      conds.push(`r${i}_host`);
    }
    if (checkRoutePath(r.path) !== "/") {
      const p = r.path.replace(/\/$/, "");
      out.push(`  acl r${i}_path path ${quoted(p)}`, `  acl r${i}_path path_beg ${quoted(`${p}/`)}`);
      conds.push(`r${i}_path`);
    }
    if (redirect && r.tls && r.host !== undefined) out.push(redirectLine(r.host, r.httpsPort, conds));
    uses.push(`  use_backend ${r.backend}${conds.length ? ` if ${conds.join(" ")}` : ""}`);
  });
  out.push(...uses);
}

/**
 * How often a machine checks each peer slot of a backend (backup qN and primary pN alike): every 2 s, slower as
 * the peers grow so that all of them together cost about two checks a second per backend (each a TLS connection on both machines: at 20 bed machines
 * with every peer checked every 2 s, the HAProxies spent over a core on it doing nothing else), and never slower than
 * 30 s. A peer that stops answering between checks is marked down by the first request it fails to connect for
 * (`observe layer4`); one that answers 503 (no instance up there) stays UP until its next check, and the requests it
 * refuses meanwhile are retried elsewhere (`retry-on`). The agent keeps the pace in the backend's state
 * (peerCheckMs) and reloads HAProxy when the peers change it twofold (proxy-peers.ts): HAProxy has no runtime
 * command for a check interval.
 */
export function backupPeerInterval(peers: number): number {
  return Math.min(30_000, Math.max(2000, peers * 500));
}

/** The pace a backend's peers are checked at now: its saved peerCheckMs, within backupPeerInterval's bounds. */
export const backupPeerPace = (b: Pick<ProxyBackend, "peerCheckMs">): number => Math.round(Math.max(2000, Math.min(Number(b.peerCheckMs) || 2000, 30_000)));

function backendLines(state: ProxyState, backends: ProxyBackend[], out: string[]): void {
  for (const b of backends) {
    const inter = Math.round(Math.max(200, Math.min(Number(b.intervalMs) || 1000, 2000)));
    const httpCheck = (path: string, expect = "200-399", header?: string) =>
      header
        ? ["  option httpchk", `  http-check send meth GET uri ${quoted(checkHealthPath(path))} hdr ${header} 1`, `  http-check expect status ${expect}`]
        : [`  option httpchk GET ${quoted(checkHealthPath(path))}`, `  http-check expect status ${expect}`];
    const head = (name: string, balance: string[]) => [
      "",
      `backend ${checkName(name, "backend name")}`,
      ...balance,
      // Backups (peers while local instances are down, the outgoing release) share the load, not the first alone.
      "  option allbackups",
      // Checks say they are checks: a peer's mesh frontend answers one itself (mesh.ts); an instance here ignores it.
      ...(isTcp(b) ? [] : httpCheck(b.healthPath!, undefined, b.slots.some((s) => s.peer) ? CHECK_HEADER : undefined)),
      // Without it HAProxy gives a check `inter` (as little as 200 ms) to answer, and a busy instance flips DOWN.
      `  timeout check ${checkTimeout(b.timeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS, `health timeout of ${b.name}`)}ms`,
      // A refused connection marks the server down at once; the request is retried elsewhere.
      `  default-server inter ${inter}ms fall 2 rise 1 observe layer4 error-limit 1 on-error mark-down`,
    ];
    const tls = peerTls(state, b);
    const peerInter = backupPeerPace(b);
    const server = (s: ProxyBackend["slots"][number]) => {
      // Peers (other machines; qN backups while every local instance is down, pN while this machine runs none of
      // its own) are checked slowly: every 2 s, slower with many peers (peerCheckMs), which keeps them known UP (or
      // DOWN) without every machine hammering every peer at 5 checks a second. After one failed check, fastinter
      // confirms the fall (fall 2) at the app's interval; a DOWN one (or one just put in) is checked every 2 s and
      // is UP again on its first good check (rise 1). A peer that stops answering between checks is marked down by
      // the first request it fails (observe layer4), and a request it refuses is retried elsewhere (retry-on).
      // HAProxy also wakes for an empty (maint) slot's check at its interval: 2 × peers pN slots at the app's
      // 200 ms were most of an idle HAProxy's wake-ups at 20 machines (180 a second, 84 without).
      const pace = s.peer ? ` inter ${peerInter}ms fastinter ${inter}ms${peerInter > 2000 ? " downinter 2000ms" : ""}` : "";
      return `  server ${checkName(s.name, "server name")} ${serverAddress(s.addr, s.port)} check${s.peer ? tls : ""}${pace}${s.backup ? " backup" : ""}${s.state === "ready" ? "" : " disabled"}`;
    };
    if (!isTcp(b)) {
      out.push(...head(b.name, ["  balance roundrobin"]), ...b.slots.map(server));
      continue;
    }
    // A TCP app: its own instances here (tcp.ts: the frontend picks this backend while one is usable)…
    out.push(...head(b.name, tcpBackendHead(b.healthPath !== undefined ? httpCheck(b.healthPath) : undefined)), ...b.slots.filter((s) => !s.peer).map(server));
    // …and its peers, other machines' mesh TCP frontends, checked by asking their HTTP mesh frontend whether one of
    // the app's instances is up there (mesh.ts): a TLS handshake with HAProxy would pass whatever runs behind it.
    out.push(...head(peerBackendName(b), ["  balance leastconn", ...httpCheck(MESH_UP_PATH, "200")]), ...b.slots.filter((s) => s.peer).map(server));
  }
}
