// The mesh in haproxy.cfg: the `mesh` frontend, where other machines of a
// project hand this machine requests for its apps (mutual TLS, the project's CA,
// routed by SNI), and the TLS settings of the peer slots that send them. Pure.
import { CHECK_HEADER, HOP_HEADER, MESH_PORT, MESH_TCP_PORT, MESH_UP_PATH, meshSni } from "../contracts/mesh.ts";
import type { ProxyBackend, ProxyState } from "./model.ts";
import { isTcp } from "./tcp.ts";
import { tlsShareUseLines } from "./tls.ts";
import { checkAddr, checkHost, checkLocalPath, checkName, checkPort, serverAddress } from "./values.ts";

export { CHECK_HEADER, HOP_HEADER, MESH_PORT, MESH_TCP_PORT, MESH_UP_PATH, meshSni } from "../contracts/mesh.ts";

/** One project's certificate on this machine: `crt` holds the machine's certificate and its key (0600), `ca` the
 *  project's CA certificate(s), the trust for both directions. */
export interface MeshCert {
  project: string;
  crt: string;
  ca: string;
}

/** Where this machine takes mesh requests (its private address), with one certificate per project. */
export interface MeshState {
  addr: string;
  port: number;
  /** The crt-list file (meshCrtList) the frontend loads: per project its certificate, its CA, its SNI names. */
  crtList: string;
  certs: MeshCert[];
}

const certOf = (state: ProxyState, project: string | undefined) => (project === undefined ? undefined : state.mesh?.certs.find((c) => c.project === project));

/** The crt-list: each project's certificate answers only its own apps' names (`*.PROJECT.internal`) and verifies
 *  the client against that project's CA alone, so a machine of project X cannot reach project Y's backends here. */
export function meshCrtList(mesh: MeshState): string {
  return mesh.certs.map((c) => `${checkLocalPath(c.crt, "mesh certificate")} [ca-file ${checkLocalPath(c.ca, "mesh CA file")} verify required] *.${checkHost(checkName(c.project, "project"), "project")}.internal\n`).join("");
}

/** The HTTP mesh frontend's name (the agent tells the requests that came through it in the access log). */
export const MESH_FRONTEND = "mesh";

/** The `mesh` frontend, or nothing before this machine has a certificate. A request is handed on at most once:
 *  one that carries the hop header was forwarded by a machine that could not serve it itself, and is refused (503)
 *  rather than sent to a third machine or back (the sender then tries another peer). */
export function meshFrontendLines(state: ProxyState): string[] {
  const m = state.mesh;
  if (!m || !m.certs.length) return [];
  // HAProxy wants a CA on the bind itself too: it applies to a client whose SNI names no project here (such a
  // request reaches no backend anyway: only SNI routes). Each project's own line overrides it.
  const out = [
    "",
    `frontend ${MESH_FRONTEND}`,
    `  bind ${serverAddress(checkAddr(m.addr, "mesh address"), checkPort(m.port, "mesh port"))} ssl crt-list ${checkLocalPath(m.crtList, "mesh crt-list")} verify required ca-file ${checkLocalPath(m.certs[0]!.ca, "mesh CA file")}`,
    `  http-request return status 503 content-type text/plain string "skiff: already forwarded once by another machine\\n" if { req.hdr(${HOP_HEADER}) -m found }`,
    `  http-request set-header ${HOP_HEADER} 1`,
  ];
  // A connection whose TLS name got lost (none sent) is closed without an answer: the sender retries the request
  // elsewhere on a new connection.
  out.push("  http-request reject if !{ ssl_fc_sni -m found }");
  // A peer's check of an HTTP app here (it carries the check header: config.ts) is answered here, from what this
  // HAProxy knows of its own instances: up while one of them is; else the 503 below.
  for (const b of meshed(state).filter((x) => !isTcp(x)))
    for (const up of localUp(b)) out.push(`  http-request return status 200 content-type text/plain string "up\\n" if { req.hdr(${CHECK_HEADER}) -m found } { ssl_fc_sni -i ${sniOf(b)} } ${up}`);
  // A TCP app's peers ask here whether one of its instances is up on this machine (their check: tcp.ts).
  for (const b of meshed(state).filter(isTcp)) {
    const sni = `{ ssl_fc_sni -i ${sniOf(b)} }`;
    for (const up of localUp(b)) out.push(`  http-request return status 200 content-type text/plain string "up\\n" if { path ${MESH_UP_PATH} } ${sni} ${up}`);
    out.push(`  http-request return status 503 content-type text/plain string "skiff: no instance of ${checkName(b.app!, "app")} is up on this machine\\n" if { path ${MESH_UP_PATH} } ${sni}`);
  }
  // A TCP app's backend is `mode tcp`: an HTTP frontend cannot use it (its connections come to mesh_tcp).
  const served = meshed(state).filter((b) => !isTcp(b));
  for (const b of served) {
    // Only this machine's own instances serve what another machine hands over: with none of them up the backend
    // would pick one of its peers, a second hop. Refused here at once instead, with a 503 the sender retries on
    // another peer; its check of this machine fails the same way, so it stops sending here while none is up. (The
    // instances are the backend's only active servers; peers are backups, used when no active one is up.)
    const local = localUp(b).map((c) => `!${c}`);
    out.push(`  http-request return status 503 content-type text/plain string "skiff: no instance of ${checkName(b.app!, "app")} is up on this machine\\n" if { ssl_fc_sni -i ${sniOf(b)} } ${local.join(" ")}`.trimEnd());
  }
  // tls: auto certificates between the project's machines (tls.ts).
  out.push(...tlsShareUseLines(state));
  for (const b of served) out.push(`  use_backend ${checkName(b.name, "backend name")} if { ssl_fc_sni -i ${sniOf(b)} }`);
  // A name this machine does not serve (the app left it, and the sender has not heard yet): a 503 the sender
  // retries on another peer, not the public frontend's 404, which it would pass on to its client.
  out.push(
    "  default_backend skiff_mesh_none",
    "",
    "backend skiff_mesh_none",
    `  http-request return status 503 content-type text/plain string "skiff: this machine serves no app by that name\\n"`,
  );
  return out;
}

/** The app's mesh name, checked: its TLS server name on both sides. */
const sniOf = (b: ProxyBackend) => checkHost(meshSni(b.project!, b.app!), "mesh name");

/** Backends another machine may reach here: those of projects this machine holds a certificate for. */
const meshed = (state: ProxyState) => state.backends.filter((b) => b.project !== undefined && b.app !== undefined && certOf(state, b.project));

/** One condition per local slot of a backend, true while that slot is up (peer slots do not count). */
const localUp = (b: ProxyBackend) => b.slots.filter((s) => !s.peer).map((s) => `{ srv_is_up(${checkName(b.name, "backend name")}/${checkName(s.name, "server name")}) }`);

/** The `mesh_tcp` frontend (in the TCP part of the file): other machines' connections to this machine's TCP apps,
 *  under the same certificates as the HTTP mesh frontend, routed by SNI to the app's backend of local instances
 *  alone (its peers are a backend of their own: tcp.ts), so a connection is never handed on a second time. */
export function meshTcpFrontendLines(state: ProxyState): string[] {
  const m = state.mesh;
  const tcp = meshed(state).filter(isTcp);
  if (!m || !m.certs.length || !tcp.length) return [];
  const names = tcp.map((b) => sniOf(b));
  return [
    "",
    "frontend mesh_tcp",
    `  bind ${serverAddress(checkAddr(m.addr, "mesh address"), checkPort(MESH_TCP_PORT, "mesh TCP port"))} ssl crt-list ${checkLocalPath(m.crtList, "mesh crt-list")} verify required ca-file ${checkLocalPath(m.certs[0]!.ca, "mesh CA file")}`,
    `  tcp-request session reject if !{ ssl_fc_sni -i ${names.join(" ")} }`,
    ...tcp.map((b, i) => `  use_backend ${checkName(b.name, "backend name")} if { ssl_fc_sni -i ${names[i]} }`),
  ];
}

/** A client must not forge the hop header (it would make every peer refuse the request) or the check header (a
 *  peer would answer "up" in place of the app). */
export const dropClientMarks = () => [`  http-request del-header ${HOP_HEADER}`, `  http-request del-header ${CHECK_HEADER}`];

/** TLS for a backend's peer slots: the machine's certificate for the project (client side), the project's CA for
 *  the peer's, the app's mesh name as SNI for requests and checks alike. Empty when this machine has no certificate
 *  for the project (peers then cannot be reached: `skiff setup` issues it). */
export function peerTls(state: ProxyState, b: ProxyBackend): string {
  const c = certOf(state, b.project);
  if (!c || b.app === undefined) return "";
  const sni = checkHost(meshSni(b.project!, b.app), "mesh name");
  // A TCP app's peer slot carries its connections to the peer's mesh_tcp port and checks the HTTP mesh port.
  const check = isTcp(b) ? ` port ${MESH_PORT} check-ssl` : "";
  return `${check} ssl verify required ca-file ${checkLocalPath(c.ca, "mesh CA file")} crt ${checkLocalPath(c.crt, "mesh certificate")} sni str(${sni}) check-sni ${sni}`;
}
