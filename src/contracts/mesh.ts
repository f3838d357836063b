// The mesh: how one machine's HAProxy hands a request to another machine's, over
// mutual TLS under the project's CA. The CLI (certificates) and the agent
// (haproxy.cfg) both use these names.

import { MESH_PORTS } from "./ports.ts";

/** The mesh frontend's port, on the machine's private address (the firewall's list: ports.ts). */
export const MESH_PORT = MESH_PORTS.http;

/** The mesh's TCP frontend (TCP apps' connections, TLS-wrapped, routed by SNI to the app's local instances). */
export const MESH_TCP_PORT = MESH_PORTS.tcp;

/** Asked of the HTTP mesh frontend with a TCP app's name as SNI: 200 while one of that app's instances on the
 *  machine is up, else 503. It is the check of TCP peer slots: a TLS handshake alone says nothing about them. */
export const MESH_UP_PATH = "/.skiff/up";

/** Set by the mesh frontend on what it forwards: a request that carries it came from another machine already and
 *  is not sent on to a third (no loops, at most one hop). Public and internal frontends drop it from clients. */
export const HOP_HEADER = "x-skiff-hop";

/** Sent with every health check of an HTTP app's backend. A peer's mesh frontend answers a check that carries it
 *  itself (200 while one of the app's instances there is up, else 503) instead of handing it to an instance: the
 *  peer's HAProxy already checks its own instances, and a check of each peer by each machine is n² requests to the
 *  apps over a fleet. Public and internal frontends drop it from clients, like the hop header. */
export const CHECK_HEADER = "x-skiff-check";

/** The name a peer slot asks for (TLS SNI): it picks the backend on the other machine, and the project's
 *  certificate there. The app's full internal name, the same on every machine. */
export const meshSni = (project: string, app: string) => `${app}.${project}.internal`;

/** The DNS names in a machine's certificate: the machine, and every app of its project (what peers check, since
 *  they connect with meshSni as the server name). */
export const meshCertNames = (project: string, machine: string) => [machine, `*.${project}.internal`];
