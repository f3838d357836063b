// What each machine has (`skiff machines check`) and what it carries (capacity:
// what placement sees), the two views a custom scheduler reads live load from.
import type { MachineSpec, Project } from "../config/model.ts";
import { UserError } from "../errors.ts";
import { capacities } from "../exec/placement.ts";
import { probe } from "../exec/setup.ts";
import { settleAll } from "../lib/parallel.ts";
import { lowSpace } from "../machines/low-space.ts";
import type { MachineFacts } from "../machines/probe.ts";
import { MIN_NODE } from "../plan/setup.ts";
import { suggest } from "../config/suggest.ts";
import { askAll } from "../transport/agent-client.ts";
import { connect, sshContext } from "../transport/connect.ts";
import type { Transport } from "../transport/types.ts";

export type { MachineFacts };

export interface CheckRow {
  machine: string;
  reachable: boolean;
  error?: { message: string; hint?: string };
  facts?: MachineFacts;
  /** Reachable with the agent, HAProxy and Node skiff needs: `setup` has nothing left to do for apps to run. */
  ready: boolean;
  /** Low disk space or low inodes under /var/lib/skiff: a deploy may fail with "No space left on device". */
  warnings: string[];
  ms: number;
}

/** The named machines (all when none are named); unknown names are an error with a suggestion. */
export function selectMachines(project: Project, names: string[] = []): MachineSpec[] {
  const all = Object.values(project.machines);
  if (!names.length) return all;
  return names.map((n) => {
    const m = project.machines[n];
    if (m) return m;
    const guess = suggest(n, Object.keys(project.machines));
    throw new UserError(`no machine named "${n}" in ${project.environment ? `environment ${project.environment}` : "skiff.yml"}`, { hint: guess ? `did you mean "${guess}"?` : `machines: ${Object.keys(project.machines).join(", ")}` });
  });
}

export function transportsFor(project: Project, machines: MachineSpec[]): Transport[] {
  const ctx = sshContext(project);
  return machines.map((m) => connect(m, ctx));
}

export async function checkMachines(project: Project, names: string[] = []): Promise<CheckRow[]> {
  const transports = transportsFor(project, selectMachines(project, names));
  const settled = await settleAll(transports, 20, async (t): Promise<CheckRow> => {
    const started = Date.now();
    try {
      const facts = await probe(t);
      const ready = Boolean(facts.agent && facts.haproxy && facts.node && facts.node.major >= MIN_NODE);
      return { machine: t.machine.name, reachable: true, facts, ready, warnings: lowSpace(facts), ms: Date.now() - started };
    } catch (e) {
      if (!(e instanceof UserError)) throw e;
      return { machine: t.machine.name, reachable: false, ready: false, warnings: [], error: { message: e.message, hint: e.hint }, ms: Date.now() - started };
    }
  });
  return settled.map((s) => {
    if (!s.ok) throw s.error;
    return s.value;
  });
}

/** One machine as placement sees it, and what runs there now. */
export interface MachineLoad {
  machine: string;
  labels: string[];
  cpus: number;
  memoryBytes: number;
  /** CPUs and memory reserved by the active releases of apps other than the one asked about (their limits × instances). */
  reserved: { cpus: number; memoryBytes: number };
  /** Instances of every app (any project) the agent runs there. */
  instances: number;
}

/** Each machine's capacity and load, as placement of `app` would see it (its own instances are not "reserved"). */
export async function machineLoads(project: Project, app: string): Promise<MachineLoad[]> {
  const res = await askAll(project, async (c) => {
    const [cap] = await capacities(project, app, [c]);
    const raw = await c.call<{ apps: { instances: number }[] }>("capacity");
    return { ...cap!, instances: raw.apps.reduce((n, a) => n + a.instances, 0) };
  });
  return res.map((r) => {
    if (!r.ok) throw r.error;
    const { name, ...rest } = r.value;
    return { machine: name, ...rest };
  });
}
