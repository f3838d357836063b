// The mesh in haproxy.cfg: the `mesh` frontend, where other machines of a
// project hand this machine requests for its apps (mutual TLS, the project's CA,
// routed by SNI), and the TLS settings of the peer slots that send them. Pure.
import { HOP_HEADER, MESH_PORT, meshSni } from "../contracts/mesh.ts";
import type { ProxyBackend, ProxyState } from "./model.ts";
import { tlsShareUseLines } from "./tls.ts";
import { checkAddr, checkHost, checkLocalPath, checkName, checkPort, serverAddress } from "./values.ts";

export { HOP_HEADER, MESH_PORT, meshSni } from "../contracts/mesh.ts";

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
    "frontend mesh",
    `  bind ${serverAddress(checkAddr(m.addr, "mesh address"), checkPort(m.port, "mesh port"))} ssl crt-list ${checkLocalPath(m.crtList, "mesh crt-list")} verify required ca-file ${checkLocalPath(m.certs[0]!.ca, "mesh CA file")}`,
    `  http-request return status 503 content-type text/plain string "skiff: already forwarded once by another machine\\n" if { req.hdr(${HOP_HEADER}) -m found }`,
    `  http-request set-header ${HOP_HEADER} 1`,
  ];
  for (const b of state.backends) {
    // A TCP app's backend is `mode tcp`: an HTTP frontend cannot use it (its peers go straight to its instances).
    if (b.tcpPort !== undefined) continue;
    if (b.project === undefined || b.app === undefined || !certOf(state, b.project)) continue;
    out.push(`  use_backend ${checkName(b.name, "backend name")} if { ssl_fc_sni -i ${checkHost(meshSni(b.project, b.app), "mesh name")} }`);
  }
  // tls: auto certificates between the project's machines (tls.ts).
  out.push(...tlsShareUseLines(state));
  out.push("  default_backend skiff_no_route");
  return out;
}

/** A client must not forge the hop header (it would make every peer refuse the request). */
export const dropHopHeader = () => `  http-request del-header ${HOP_HEADER}`;

/** TLS for a backend's peer slots: the machine's certificate for the project (client side), the project's CA for
 *  the peer's, the app's mesh name as SNI for requests and checks alike. Empty when this machine has no certificate
 *  for the project (peers then cannot be reached: `skiff setup` issues it). */
export function peerTls(state: ProxyState, b: ProxyBackend): string {
  const c = certOf(state, b.project);
  if (!c || b.app === undefined) return "";
  const sni = checkHost(meshSni(b.project!, b.app), "mesh name");
  return ` ssl verify required ca-file ${checkLocalPath(c.ca, "mesh CA file")} crt ${checkLocalPath(c.crt, "mesh certificate")} sni str(${sni}) check-sni ${sni}`;
}
