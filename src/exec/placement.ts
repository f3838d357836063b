// Placement as the machines see it during a rollout: each machine learns which
// other machines run the app's instances (PeerBook), to reach them over the mesh. (Where instances go is decided
// by the pure planner: plan/placement.ts, from the observed capacities.)
import type { Project } from "../config/model.ts";
import type { ObservedCapacity } from "../plan/observed.ts";
import { capacitiesFrom, type MachineCapacity } from "../plan/placement.ts";
import type { InstanceList as List } from "../contracts/activate.ts";
import { MESH_PORT, MESH_TCP_PORT } from "../contracts/mesh.ts";
import { byCodeUnit } from "../lib/order.ts";
import type { AgentClient } from "../transport/agent-client.ts";

/** Each machine's capacity and what other apps reserve there, asked of its agent (a custom scheduler's input). */
export async function capacities(project: Project, app: string, clients: AgentClient[]): Promise<MachineCapacity[]> {
  const machines = await Promise.all(clients.map(async (c) => ({ machine: c.machine, capacity: await c.call<ObservedCapacity>("capacity"), apps: {}, specs: {} })));
  return capacitiesFrom(project, app, { machines, unreachable: [] });
}

type Peer = { name: string; addr: string; port: number };
/** A set of peers as one string, whatever their order. */
const keyOf = (peers: Peer[]) => JSON.stringify([...peers].sort((a, b) => byCodeUnit(a.name, b.name)).map((p) => [p.name, p.addr, p.port]));

/**
 * Which machines run the app's instances, as the CLI last asked, and what each machine was last told, so a
 * rollout tells a machine only what changed for it. A machine's peers are the OTHER MACHINES that run at least
 * one instance: its HAProxy reaches each at its mesh frontend (private address, MESH_PORT, or MESH_TCP_PORT for a TCP
 * app; mutual TLS), where that
 * machine's own backend picks among its own instances. So peers change when the set of serving machines changes,
 * not at every release. A machine that runs none of its own serves the app through its peers and hears of every
 * change at once; the others keep them ready but off (for a restart, or an activation that leaves them without
 * instances), so they hear before their own wave and at the end, not after every wave. A machine without a
 * private address is nobody's peer.
 */
export class PeerBook {
  private readonly lists = new Map<string, List | undefined>();
  private readonly told = new Map<string, string>();

  constructor(
    private readonly project: string,
    private readonly app: string,
    private readonly clients: AgentClient[],
    /** A TCP app: its peers are the other machines' mesh TCP frontends (MESH_TCP_PORT), not the HTTP one. */
    private readonly tcp = false,
  ) {}

  /** Asks these machines, and every machine not heard from yet, for their instances of the app. A machine that
   *  does not answer keeps what it said last; one never heard from is unknown, and nobody is told anything while
   *  one is (its instances would silently drop out of everyone's peers). */
  async refresh(which: AgentClient[] = this.clients): Promise<void> {
    const asked = new Set(which);
    const ask = this.clients.filter((c) => asked.has(c) || this.lists.get(c.machine) === undefined);
    if (!ask.length) return;
    const lists = await Promise.all(ask.map((c) => c.call<List>("instances.list", { project: this.project, app: this.app }).catch(() => undefined)));
    ask.forEach((c, n) => {
      if (lists[n] !== undefined) this.learn(c.machine, lists[n]);
      else if (!this.lists.has(c.machine)) this.lists.set(c.machine, undefined);
    });
  }

  /** What a machine says of itself (an activation's result carries it): its instances, and the peers it has,
   *  which it is then not told again. An agent that predates `peers` is told as before. */
  learn(machine: string, list: List): void {
    this.lists.set(machine, list);
    if (list.peers) this.told.set(machine, keyOf(list.peers));
  }

  /** Machines that run none of the app but have it (they serve it through their peers). */
  peerOnly(): AgentClient[] {
    return this.clients.filter((c) => { const l = this.lists.get(c.machine); return l !== undefined && l.active !== null && l.instances.length === 0; });
  }

  /** The peers of one machine: every other machine that runs an instance and has a private address. */
  peersOf(machine: string): Peer[] {
    return this.clients.flatMap((c) => {
      const addr = c.transport.machine.privateAddress;
      return c.machine !== machine && addr && (this.lists.get(c.machine)?.instances.length ?? 0) > 0 ? [{ name: c.machine, addr, port: this.tcp ? MESH_TCP_PORT : MESH_PORT }] : [];
    });
  }

  /** Tells these machines their peers, where that changed since they were last told (a failure is told again next
   *  time). A machine that does not run the app yet is not told: its agent has no backend to put them in and
   *  ignores them, so it hears once it has activated (right after its wave when it runs none of its own). */
  async tell(which: AgentClient[]): Promise<void> {
    const unknown = this.clients.filter((c) => this.lists.get(c.machine) === undefined);
    if (unknown.length) await this.refresh(unknown);
    if (this.clients.some((c) => this.lists.get(c.machine) === undefined)) return;
    await Promise.all(
      which.map(async (c) => {
        if (this.lists.get(c.machine)?.active === null) return;
        const peers = this.peersOf(c.machine);
        const key = keyOf(peers);
        if (this.told.get(c.machine) === key) return;
        this.told.delete(c.machine);
        await c.call("peers.set", { project: this.project, app: this.app, peers }).then(() => this.told.set(c.machine, key), () => {});
      }),
    );
  }
}
