// The mesh: how one machine's HAProxy hands a request to another machine's, over
// mutual TLS under the project's CA. The CLI (certificates) and the agent
// (haproxy.cfg) both use these names.

import { MESH_PORTS } from "./ports.ts";

/** The mesh frontend's port, on the machine's private address (the firewall's list: ports.ts). */
export const MESH_PORT = MESH_PORTS.http;

/** Set by the mesh frontend on what it forwards: a request that carries it came from another machine already and
 *  is not sent on to a third (no loops, at most one hop). Public and internal frontends drop it from clients. */
export const HOP_HEADER = "x-skiff-hop";

/** The name a peer slot asks for (TLS SNI): it picks the backend on the other machine, and the project's
 *  certificate there. The app's full internal name, the same on every machine. */
export const meshSni = (project: string, app: string) => `${app}.${project}.internal`;

/** The DNS names in a machine's certificate: the machine, and every app of its project (what peers check, since
 *  they connect with meshSni as the server name). */
export const meshCertNames = (project: string, machine: string) => [machine, `*.${project}.internal`];
