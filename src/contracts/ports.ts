// Ports skiff holds on every machine's private address, in one place: the agent
// allocates instance ports from INSTANCE_PORTS, the mesh listens on MESH_PORTS,
// and the firewall (agent/firewall-rules.ts) lets only the project's machines reach them.

/** Host ports of instances: on 127.0.0.1 (HTTP apps: other machines come through the mesh) or on the private
 *  address (TCP apps: peer slots of other machines' HAProxy connect to them directly). */
export const INSTANCE_PORTS = { from: 20000, to: 29999 } as const;

/** The mTLS mesh between machines on the private address: HTTP (contracts/mesh.ts); TCP held for its TCP listener. */
export const MESH_PORTS = { http: 7443, tcp: 7444 } as const;

/** The internal frontend's port lives with the internal names (contracts/internal-names.ts). */
export { INTERNAL_PORT } from "./internal-names.ts";
