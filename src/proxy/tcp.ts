// TCP apps (`protocol: tcp`: Postgres, Redis, gRPC…) in haproxy.cfg. Their
// sections come after every HTTP one, under a `defaults` of their own: the HTTP
// defaults (http-reuse, retry-on, idle-close-on-response, http-request and
// keep-alive timeouts) mean nothing to a byte stream, and HAProxy warns about
// some of them in a tcp section. Each TCP app gets a frontend on its internal
// port at the internal addresses, and a `mode tcp` backend with the same slots
// (local, outgoing backups, peers) as an HTTP app: a switch sends new
// connections to the new instance while established ones go on. Pure.
import type { ProxyBackend } from "./model.ts";
import { checkAddr, checkName, checkPort, serverAddress } from "./values.ts";

export const isTcp = (b: ProxyBackend) => b.tcpPort !== undefined;

/** An idle TCP connection (a pooled database connection) is closed by HAProxy after this long without a byte
 *  either way: an hour, as WebSockets get on the HTTP side (`timeout tunnel 1h`). Pools recycle sooner than that
 *  (HikariCP 30 min, pgbouncer's server_lifetime 1 h) and clients that hold longer idle connections must expect
 *  a close anyway; much longer would keep connections of vanished clients open on the instances. */
export const TCP_IDLE_TIMEOUT = "1h";

export function tcpDefaultsLines(logging: boolean): string[] {
  return [
    "",
    "defaults",
    "  mode tcp",
    ...(logging ? ["  log global", "  option tcplog"] : []),
    "  timeout connect 2s",
    `  timeout client ${TCP_IDLE_TIMEOUT}`,
    `  timeout server ${TCP_IDLE_TIMEOUT}`,
    "  timeout queue 10s",
    // A refused connect (an instance that just died) is tried again, on another server: the client never sees it.
    "  retries 3",
    "  option redispatch 1",
  ];
}

/** One frontend per TCP app on this machine: its internal port on every internal address. */
export function tcpFrontendLines(b: ProxyBackend, addrs: string[]): string[] {
  if (!addrs.length) return [];
  const port = checkPort(b.tcpPort!, `internal port of ${b.name}`);
  const out = ["", `frontend internal_tcp_${port}`];
  for (const a of addrs) out.push(`  bind ${serverAddress(checkAddr(a, "internal address"), port)}`);
  out.push(`  default_backend ${checkName(b.name, "backend name")}`);
  return out;
}

/** The head of a TCP backend (its server lines are the HTTP ones'). leastconn: connections to a database live
 *  long and vary in weight; roundrobin counts only how many were opened, so after a switch or a restart one
 *  instance would keep the old, long connections and still get its equal share of new ones. The check: HAProxy's
 *  httpchk when the app gives an HTTP path (served on the same port), else a TCP connect. */
export function tcpBackendHead(httpCheck: string[] | undefined): string[] {
  return ["  balance leastconn", ...(httpCheck ?? ["  option tcp-check"])];
}
