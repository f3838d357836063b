// Placement as the machines see it during a rollout: each machine learns which
// other machines run the app's instances (PeerBook), to reach them over the mesh. (Where instances go is decided
// by the pure planner: plan/placement.ts, from the observed capacities.)
import type { Project } from "../config/model.ts";
import type { ObservedCapacity } from "../plan/observed.ts";
import { capacitiesFrom, type MachineCapacity } from "../plan/placement.ts";
import { MESH_PORT } from "../contracts/mesh.ts";
import type { AgentClient } from "../transport/agent-client.ts";

/** Each machine's capacity and what other apps reserve there, asked of its agent (a custom scheduler's input). */
export async function capacities(project: Project, app: string, clients: AgentClient[]): Promise<MachineCapacity[]> {
  const machines = await Promise.all(clients.map(async (c) => ({ machine: c.machine, capacity: await c.call<ObservedCapacity>("capacity"), apps: {}, specs: {} })));
  return capacitiesFrom(project, app, { machines, unreachable: [] });
}

type Peer = { name: string; addr: string; port: number };
type List = { active: number | null; instances: { name: string; bindAddress?: string; hostPort: number }[] };

/**
 * Which machines run the app's instances, as the CLI last asked, and what each machine was last told, so a
 * rollout tells a machine only what changed for it. A machine's peers are the OTHER MACHINES that run at least
 * one instance: its HAProxy reaches each at its mesh frontend (private address, MESH_PORT, mutual TLS), where that
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
    /** A TCP app: the mesh carries HTTP only, so its peers are the other machines' instances themselves, on their
     *  private addresses (plain TCP, firewalled to the project's machines). */
    private readonly direct = false,
  ) {}

  /** Asks these machines (all of them the first time) for their instances of the app. A machine that does not
   *  answer keeps what it said last; one never heard from is unknown, and nobody is told anything while one is
   *  (its instances would silently drop out of everyone's peers). */
  async refresh(which: AgentClient[] = this.clients): Promise<void> {
    const ask = this.lists.size ? which : this.clients;
    const lists = await Promise.all(ask.map((c) => c.call<List>("instances.list", { project: this.project, app: this.app }).catch(() => undefined)));
    ask.forEach((c, n) => {
      if (lists[n] !== undefined || !this.lists.has(c.machine)) this.lists.set(c.machine, lists[n]);
    });
  }

  /** Machines that run none of the app but have it (they serve it through their peers). */
  peerOnly(): AgentClient[] {
    return this.clients.filter((c) => { const l = this.lists.get(c.machine); return l !== undefined && l.active !== null && l.instances.length === 0; });
  }

  /** The peers of one machine: every other machine that runs an instance and has a private address. */
  peersOf(machine: string): Peer[] {
    if (this.direct) {
      return [...this.lists].flatMap(([m, l]) =>
        m === machine ? [] : (l?.instances ?? []).filter((x) => x.bindAddress && !x.bindAddress.startsWith("127.")).map((x) => ({ name: x.name, addr: x.bindAddress!, port: x.hostPort })),
      );
    }
    return this.clients.flatMap((c) => {
      const addr = c.transport.machine.privateAddress;
      return c.machine !== machine && addr && (this.lists.get(c.machine)?.instances.length ?? 0) > 0 ? [{ name: c.machine, addr, port: MESH_PORT }] : [];
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
        const key = JSON.stringify(peers);
        if (this.told.get(c.machine) === key) return;
        this.told.delete(c.machine);
        await c.call("peers.set", { project: this.project, app: this.app, peers }).then(() => this.told.set(c.machine, key), () => {});
      }),
    );
  }
}
