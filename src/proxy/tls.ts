// HTTPS in haproxy.cfg (pure): one HTTPS frontend per https_port that some tls
// route uses, loading the agent's crt-list (strict-sni: a name with no
// certificate gets a TLS alert, so no default certificate is needed and an
// empty list still starts), and on the plain HTTP side a 301 to HTTPS for
// those routes, except ACME's challenge path (HTTP-01 must stay on HTTP).
import { alertShareSni } from "../contracts/alerts.ts";
import type { ProxyBackend, ProxyState } from "./model.ts";
import { checkHost, checkLocalPath, checkPort, quoted } from "./values.ts";

export const DEFAULT_HTTPS_PORT = 443;
export const ACME_PATH = "/.well-known/acme-challenge/";

export const httpsPortOf = (b: ProxyBackend) => checkPort(b.httpsPort ?? DEFAULT_HTTPS_PORT, `https port of ${b.name}`);
export const hasTls = (b: ProxyBackend) => b.routes.some((r) => r.tls && r.host !== undefined);

/** The backends with tls routes, keeping only those routes. */
export function tlsBackends(state: ProxyState): ProxyBackend[] {
  if (!state.tlsCrtList) return [];
  return state.backends.filter(hasTls).map((b) => ({ ...b, routes: b.routes.filter((r) => r.tls && r.host !== undefined) }));
}

/** The redirect for a tls route's conditions (its host and path ACLs) on the plain HTTP frontend. */
export function redirectLine(host: string, httpsPort: number, conds: string[]): string {
  const port = httpsPort === DEFAULT_HTTPS_PORT ? "" : `:${checkPort(httpsPort, "https port")}`;
  return `  http-request redirect location https://${checkHost(host)}${port}%[pathq] code 301 if ${conds.join(" ")} !{ path_beg ${ACME_PATH} }`;
}

/** The lines that open an HTTPS frontend, before its routes. */
export function httpsFrontendHead(state: ProxyState, port: number, backends: ProxyBackend[]): string[] {
  const out = ["", `frontend public_tls_${checkPort(port, "https port")}`, `  bind :${port} ssl crt-list ${checkLocalPath(state.tlsCrtList!, "tls crt-list")} strict-sni alpn h2,http/1.1`, "  http-request set-header X-Forwarded-Proto https"];
  // The request's Host is gone by response time: the SNI (always one of ours, strict-sni) says which route it was.
  const hsts = new Map<string, number>();
  for (const b of backends) for (const r of b.routes) if (r.tls?.hstsS !== undefined && r.host) hsts.set(r.host.toLowerCase(), Math.max(hsts.get(r.host.toLowerCase()) ?? 0, r.tls.hstsS));
  for (const [host, age] of [...hsts].sort()) {
    if (!Number.isInteger(age) || age < 0) throw new Error(`HSTS max-age for ${host} must be a whole number of seconds`);
    out.push(`  http-response set-header Strict-Transport-Security ${quoted(`max-age=${age}`)} if { ssl_fc_sni -i ${checkHost(host)} }`);
  }
  return out;
}

/** ACME HTTP-01, stateless (memo §3): for each project's `tls: auto` hosts, any token under the challenge path is
 *  answered with `<token>.<thumbprint>` (that project's account) by HAProxy itself. The token must be base64url
 *  (nothing else is reflected); placed before the redirects, on the plain HTTP frontends. */
export function acmeChallengeLines(accounts: Pick<AcmeAccount, "thumbprint" | "hosts">[]): string[] {
  const out: string[] = [];
  for (const a of accounts) {
    if (!/^[A-Za-z0-9_-]{43}$/.test(a.thumbprint)) throw new Error("an ACME account thumbprint is 43 base64url characters");
    if (!a.hosts.length) continue;
    if (!out.length) out.push(`  acl acme_tok path_reg ^/\\.well-known/acme-challenge/[A-Za-z0-9_-]+$`);
    out.push(`  http-request return status 200 content-type text/plain lf-string "%[path,field(4,/)].${a.thumbprint}" if acme_tok { hdr(host),field(1,:) -i ${a.hosts.map((h) => checkHost(h)).join(" ")} }`);
  }
  return out;
}

/** A project's ACME account as haproxy.cfg needs it: its public thumbprint and its `tls: auto` hosts. */
export interface AcmeAccount {
  project: string;
  thumbprint: string;
  hosts: string[];
  /** The plain HTTP port the CA validates on (the machine's http_port): it has a frontend even before any app
   *  routes there (the first certificate is ordered before the first rollout). */
  httpPort?: number;
}

/** The mesh name under which a project's machines ask each other for tls: auto certificates. A label that starts
 *  with a digit: no app is named so (names start with a letter), so it never takes an app's name. */
export const tlsShareSni = (project: string) => `0-tls.${project}.internal`;

export const TLS_SHARE_BACKEND = "skiff_tls_share";

/** In the mesh frontend (mutual TLS: the client is a machine of the project whose CA the SNI's crt-list line
 *  verifies): the share's name goes to the agent's socket. */
export function tlsShareUseLines(state: ProxyState): string[] {
  if (!state.tlsShare || !state.mesh) return [];
  return state.mesh.certs.map((c) => `  use_backend ${TLS_SHARE_BACKEND} if { ssl_fc_sni -i ${checkHost(tlsShareSni(c.project), "share name")} ${checkHost(alertShareSni(c.project), "share name")} }`);
}

/** The share's backend: GET /tls/<id> and GET /alerts (a peer's alert round) only, with the SNI (hence the project) told to the agent by HAProxy; a
 *  client's own x-skiff-sni is replaced. */
export function tlsShareBackendLines(state: ProxyState): string[] {
  if (!state.tlsShare || !state.mesh?.certs.length) return [];
  return [
    "",
    `backend ${TLS_SHARE_BACKEND}`,
    "  http-request deny deny_status 403 unless { method GET } { path_reg ^/(tls/[a-z0-9][a-z0-9_.-]*|alerts)$ }",
    "  http-request set-header x-skiff-sni %[ssl_fc_sni]",
    // The agent's own keep-alive hint (Node's 5 s) is about its hop to HAProxy, not the peer's to HAProxy (60 s):
    // passed on, a Node client closes its kept-alive connection after 4 s, and every alert round (10 s) paid a
    // new TLS handshake on both machines.
    "  http-response del-header keep-alive",
    `  server agent unix@${checkLocalPath(state.tlsShare, "tls share socket")}`,
  ];
}
