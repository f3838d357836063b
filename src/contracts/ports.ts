// Ports skiff holds on every machine's private address, in one place: the agent
// allocates instance ports from INSTANCE_PORTS, the mesh listens on MESH_PORTS,
// and the firewall (agent/firewall-rules.ts) lets only the project's machines reach them.

/** Host ports of instances (published on the machine's private address): peer slots of other machines' HAProxy. */
export const INSTANCE_PORTS = { from: 20000, to: 29999 } as const;

/** The mTLS mesh between machines: HTTP and TCP listeners on the private address. */
export const MESH_PORTS = { http: 7443, tcp: 7444 } as const;

/** The internal frontend's port lives with the internal names (contracts/internal-names.ts). */
export { INTERNAL_PORT } from "./internal-names.ts";
