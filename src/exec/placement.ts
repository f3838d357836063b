// Placement as the machines see it after a rollout batch: every machine learns
// where the app's instances on the others are. (Where instances go is decided
// by the pure planner: plan/placement.ts, from the observed capacities.)
import type { Project } from "../config/model.ts";
import type { ObservedCapacity } from "../plan/observed.ts";
import { capacitiesFrom, type MachineCapacity } from "../plan/placement.ts";
import type { AgentClient } from "../transport/agent-client.ts";

/** Each machine's capacity and what other apps reserve there, asked of its agent (a custom scheduler's input). */
export async function capacities(project: Project, app: string, clients: AgentClient[]): Promise<MachineCapacity[]> {
  const machines = await Promise.all(clients.map(async (c) => ({ machine: c.machine, capacity: await c.call<ObservedCapacity>("capacity"), apps: {}, specs: {} })));
  return capacitiesFrom(project, app, { machines, unreachable: [] });
}

/** Tells every machine where the app's instances on the other machines are (private addresses only). A machine
 *  that runs none of its own serves the app through them; the others keep them ready but off, so that when an
 *  activation leaves a machine without instances its HAProxy switches to them at once. */
export async function pushPeers(project: string, app: string, clients: AgentClient[]): Promise<void> {
  type List = { active: number | null; instances: { name: string; bindAddress?: string; hostPort: number }[] };
  const lists = await Promise.all(clients.map((c) => c.call<List>("instances.list", { project, app }).catch(() => undefined)));
  const all = lists.flatMap((l, i) =>
    (l?.instances ?? []).filter((x) => x.bindAddress && !x.bindAddress.startsWith("127.")).map((x) => ({ machine: clients[i]!.machine, name: x.name, addr: x.bindAddress!, port: x.hostPort })),
  );
  await Promise.all(clients.map((c) => c.call("peers.set", { project, app, peers: all.filter((x) => x.machine !== c.machine).map(({ name, addr, port }) => ({ name, addr, port })) }).catch(() => {})));
}
