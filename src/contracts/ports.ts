// Ports skiff holds on every machine's private address, in one place: the agent
// allocates instance ports from INSTANCE_PORTS, MESH_PORTS are held for the mTLS
// mesh between machines (on the mesh-next branch, not merged yet), and the
// firewall (agent/firewall-rules.ts) lets only the project's machines reach them.

/** Host ports of instances (published on the machine's private address): peer slots of other machines' HAProxy. */
export const INSTANCE_PORTS = { from: 20000, to: 29999 } as const;

/** The mTLS mesh between machines (HTTP and TCP listeners on the private address): guarded already, so the mesh
 *  needs no firewall change when it lands. */
export const MESH_PORTS = { http: 7443, tcp: 7444 } as const;
