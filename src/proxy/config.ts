// haproxy.cfg from ProxyState: pure. The rendered file carries every slot's
// address and state, so an HAProxy restart comes back as it was.
import type { ProxyBackend, ProxyState } from "./model.ts";

export interface ProxyPaths {
  statsSocket: string;
  pidFile: string;
  /** syslog target for request logs (e.g. 127.0.0.1:5140), off when absent. */
  logTarget?: string;
}

const q = (s: string) => `"${s.replace(/["\\]/g, "\\$&")}"`;

/** Most specific first: routes with a host, then longer paths. */
function orderedRoutes(backends: ProxyBackend[]) {
  return backends
    .flatMap((b) => b.routes.map((r) => ({ ...r, backend: b.name })))
    .sort((a, b) => Number(Boolean(b.host)) - Number(Boolean(a.host)) || b.path.length - a.path.length || a.backend.localeCompare(b.backend));
}

export function renderConfig(state: ProxyState, paths: ProxyPaths): string {
  const out = [
    "# Written by the skiff agent from its proxy state. Changes here are overwritten.",
    "global",
    `  stats socket ${paths.statsSocket} mode 600 level admin expose-fd listeners`,
    `  pidfile ${paths.pidFile}`,
    "  hard-stop-after 60s",
    ...(paths.logTarget ? [`  log ${paths.logTarget} local0`] : []),
    "",
    "defaults",
    "  mode http",
    ...(paths.logTarget ? ["  log global", "  option httplog"] : []),
    "  timeout connect 2s",
    "  timeout client 60s",
    "  timeout server 60s",
    "  timeout http-request 10s",
    "  timeout http-keep-alive 60s",
    "  timeout queue 10s",
    "  retries 10",
    "  option redispatch 1",
    "  retry-on all-retryable-errors",
  ];
  // One public frontend per port; each routes only to the apps that asked for that port (http_port).
  const portOf = (b: ProxyBackend) => b.httpPort ?? state.httpPort;
  const ports = [...new Set(state.backends.map(portOf))].sort((a, b) => a - b);
  for (const port of ports.length ? ports : [state.httpPort]) {
    out.push("", port === state.httpPort ? "frontend public" : `frontend public_${port}`, `  bind :${port}`);
    routeLines(state.backends.filter((b) => portOf(b) === port), out);
    out.push("  default_backend skiff_no_route");
  }
  out.push("", "backend skiff_no_route", `  http-request return status 404 content-type text/plain string ${q("skiff: no app routes this request\n").replace("\n", "\\n")}`);
  backendLines(state, out);
  return out.join("\n") + "\n";
}

function routeLines(backends: ProxyBackend[], out: string[]): void {
  orderedRoutes(backends).forEach((r, i) => {
    const conds: string[] = [];
    if (r.host) {
      out.push(`  acl r${i}_host hdr(host),field(1,:) -i ${r.host}`);
      conds.push(`r${i}_host`);
    }
    if (r.path !== "/") {
      const p = r.path.replace(/\/$/, "");
      out.push(`  acl r${i}_path path ${p}`, `  acl r${i}_path path_beg ${p}/`);
      conds.push(`r${i}_path`);
    }
    out.push(`  use_backend ${r.backend}${conds.length ? ` if ${conds.join(" ")}` : ""}`);
  });
}

function backendLines(state: ProxyState, out: string[]): void {
  for (const b of state.backends) {
    out.push(
      "",
      `backend ${b.name}`,
      "  balance roundrobin",
      `  option httpchk GET ${b.healthPath}`,
      "  http-check expect status 200-399",
      // A refused connection marks the server down at once; the request is retried elsewhere.
      `  default-server inter ${Math.max(200, Math.min(b.intervalMs, 2000))}ms fall 2 rise 1 observe layer4 error-limit 1 on-error mark-down`,
    );
    for (const s of b.slots) out.push(`  server ${s.name} ${s.addr}:${s.port} check${s.backup ? " backup" : ""}${s.state === "ready" ? "" : " disabled"}`);
  }
}
