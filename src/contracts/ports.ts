// Ports skiff holds on every machine's private address, in one place: the agent
// allocates instance ports from INSTANCE_PORTS, MESH_PORTS are the mTLS mesh
// between machines, and the firewall (agent/firewall-rules.ts) lets only the
// project's machines reach them.

/** Host ports of instances: on 127.0.0.1 or the Docker gateway (HTTP apps: other machines come through the
 *  mesh) or on the private address (TCP apps: peer slots of other machines' HAProxy connect to them directly). */
export const INSTANCE_PORTS = { from: 20000, to: 29999 } as const;

/** The mTLS mesh between machines on the private address: HTTP (contracts/mesh.ts); TCP held for its TCP listener. */
export const MESH_PORTS = { http: 7443, tcp: 7444 } as const;
