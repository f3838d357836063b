// Placement at deploy and scale time: each machine's capacity and what other
// apps reserve there come from its agent; the pure `place` decides.
import type { ReleaseSpec } from "../contracts/model.ts";
import type { AppSpec, Project } from "../config/model.ts";
import { UserError } from "../errors.ts";
import { checkPlacement, eligibleMachines, place, type MachineCapacity, type PlacementResult } from "../plan/placement.ts";
import type { AgentClient } from "../transport/agent-client.ts";

interface Capacity {
  cpus: number;
  memoryBytes: number;
  apps: { project: string; app: string; active: number | null; limits?: { cpus?: number; memoryBytes?: number }; instances: number }[];
}

export async function capacities(project: Project, app: string, clients: AgentClient[]): Promise<MachineCapacity[]> {
  return Promise.all(
    clients.map(async (c) => {
      const cap = await c.call<Capacity>("capacity");
      const reserved = { cpus: 0, memoryBytes: 0 };
      for (const a of cap.apps) {
        if ((a.project === project.name && a.app === app) || a.active === null) continue;
        reserved.cpus += (a.limits?.cpus ?? 0) * a.instances;
        reserved.memoryBytes += (a.limits?.memoryBytes ?? 0) * a.instances;
      }
      return { name: c.machine, labels: project.machines[c.machine]?.labels ?? [], cpus: cap.cpus, memoryBytes: cap.memoryBytes, reserved };
    }),
  );
}

/** Instances per machine for this app, or a refusal (UserError) that says what is short where. */
export async function placeApp(project: Project, app: AppSpec, clients: AgentClient[], opts: { instances?: number; current?: ReleaseSpec | null } = {}): Promise<Record<string, number>> {
  const caps = await capacities(project, app.name, clients);
  const eligibleCount = caps.filter((m) => (!app.placement.machines || app.placement.machines.includes(m.name)) && app.placement.labels.every((l) => m.labels.includes(l))).length;
  const instances = opts.instances ?? app.instances ?? eligibleCount;
  const req = { app: app.name, instances, machines: app.placement.machines, labels: app.placement.labels, strategy: app.placement.strategy, resources: app.resources, current: opts.current?.placement };
  let r: PlacementResult;
  if (app.place) {
    // skiff.config.ts decides; its answer is held to the same rules (eligible machines, total, capacity).
    let given: unknown;
    try {
      given = app.place({ app: app.name, instances, machines: eligibleMachines(req, caps), resources: app.resources, current: req.current });
    } catch (e) {
      throw new UserError(`cannot place ${app.name}: its placement function threw: ${(e as Error).message}; nothing was changed`);
    }
    r = checkPlacement(req, caps, given);
  } else r = place(req, caps);
  if (!r.ok) throw new UserError(`cannot place ${app.name}: ${r.reason}; nothing was changed`, { hint: "lower instances or resources, add machines (or labels), or free capacity on them" });
  return r.placement;
}

/** The active release of an app, as the first machine that runs its instances holds it (with its secrets); a
 *  machine that runs none keeps it without them (withheld), the answer only when no machine has more. */
export async function activeSpec(project: string, app: string, clients: AgentClient[]): Promise<ReleaseSpec | null> {
  let withheld: ReleaseSpec | null = null;
  for (const c of clients) {
    const { active } = await c.call<{ active: number | null }>("release.list", { project, app });
    if (active === null) continue;
    const spec = await c.call<ReleaseSpec | null>("release.get", { project, app, release: active });
    if (spec && !spec.withheld) return spec;
    withheld ??= spec;
  }
  return withheld;
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
