// The proxy state the agent owns; haproxy.cfg is rendered from it, and the
// Runtime API changes the running HAProxy to match it.

export type SlotState = "ready" | "drain" | "maint";

export interface Slot {
  /** s1, s2, … */
  name: string;
  addr: string;
  port: number;
  state: SlotState;
  /** Instance using the slot, if any. */
  instance?: string;
  /** A backup slot takes traffic only when every primary slot is down. */
  backup?: boolean;
  /** An instance of this app on another machine (used while this machine runs none). */
  peer?: boolean;
}

export interface ProxyBackend {
  /** skiff_<project>_<app> */
  name: string;
  /** Whose backend it is: the app's internal names (APP.internal, APP.PROJECT.internal) come from these. Absent in
   *  state saved before internal names existed, until the app's next activation here. */
  project?: string;
  app?: string;
  /** `tls`: served on the HTTPS frontend too (the certificate comes by itself: tls.ts), with HSTS when hstsS is set;
   *  plain HTTP for it is redirected. */
  routes: { host?: string; path: string; tls?: { hstsS?: number } }[];
  /** A TCP app's backend (`mode tcp`, no routes): the port its internal names serve on (tcp.ts). Absent: HTTP. */
  tcpPort?: number;
  /** The HTTP health check's path; absent (TCP apps only): a TCP connect. */
  healthPath?: string;
  intervalMs: number;
  /** The app's health timeout: how long one check may take (HAProxy's `timeout check`). Absent in state saved before it existed. */
  timeoutMs?: number;
  /** Public port this app is reached on (http_port); absent: the agent's default. */
  httpPort?: number;
  /** Public HTTPS port for its tls routes (https_port); absent: 443. */
  httpsPort?: number;
  /** How often each peer slot (qN and pN) is checked (backupPeerInterval of the peers when they last changed much: a
   *  check interval changes only by a reload). Absent: 2 s. */
  peerCheckMs?: number;
  slots: Slot[];
}

export interface ProxyState {
  /** Default public port (80, or the agent's SKIFF_HTTP_PORT). */
  httpPort: number;
  backends: ProxyBackend[];
  /** Where the internal frontend listens (proxy/internal.ts): the internal loopback address, and the Docker
   *  bridge's gateway when the machine has one. Absent: the loopback address alone. */
  internalAddrs?: string[];
  /** The mesh frontend and this machine's certificates (mesh.ts); absent until `skiff setup` issues one. */
  mesh?: MeshState;
  /** The crt-list the HTTPS frontends load (the agent's tls store keeps it); absent: no HTTPS frontend. */
  tlsCrtList?: string;
  /** Projects' ACME accounts (tls: auto): every plain HTTP frontend answers their HTTP-01 challenges (proxy/tls.ts). */
  acme?: AcmeAccount[];
  /** The agent's socket that hands tls: auto certificates to the project's other machines over the mesh, as
   *  HAProxy names it (inside its chroot); absent: no share (tls.ts). */
  tlsShare?: string;
}

import type { MeshState } from "./mesh.ts";
import type { AcmeAccount } from "./tls.ts";
import { checkHost, checkRoutePath } from "./values.ts";

export const backendName = (project: string, app: string) => `skiff_${project}_${app}`.replace(/-/g, "_");
export const MIN_SLOTS = 8;
export const MIN_BACKUP_SLOTS = 4;
/** Peer slots exist from the start (a reload to add them later would race keep-alive clients). */
export const MIN_PEER_SLOTS = 16;

/** Routes another app already serves on the same public port of this machine (same host and path): one would hide the other. */
export function routeConflicts(state: ProxyState, backend: string, routes: ProxyBackend["routes"], httpPort: number | undefined): { route: ProxyBackend["routes"][number]; owner: string }[] {
  const port = httpPort ?? state.httpPort;
  const out: { route: ProxyBackend["routes"][number]; owner: string }[] = [];
  // A host with a space would be two ACL patterns, one of them another app's: such routes never get this far.
  for (const r of routes) {
    if (r.host !== undefined) checkHost(r.host);
    checkRoutePath(r.path);
  }
  for (const r of routes) {
    const owner = state.backends.find((b) => b.name !== backend && (b.httpPort ?? state.httpPort) === port && b.routes.some((x) => (x.host ?? "").toLowerCase() === (r.host ?? "").toLowerCase() && x.path.replace(/\/$/, "") === r.path.replace(/\/$/, "")));
    if (owner) out.push({ route: r, owner: owner.name });
  }
  return out;
}

/** Another backend (another app, maybe another project) whose internal names already serve on this TCP port here:
 *  both cannot listen on the internal addresses' port. */
export function tcpPortOwner(state: ProxyState, backend: string, port: number | undefined): ProxyBackend | undefined {
  if (port === undefined) return undefined;
  return state.backends.find((b) => b.name !== backend && b.tcpPort === port);
}
