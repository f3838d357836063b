// Prepare machines (Docker, HAProxy, the agent and its Node runtime): probe, plan, execute; idempotent.
import type { MachineSpec, Project } from "../config/model.ts";
import type { Reporter } from "../contracts/events.ts";
import { UserError } from "../errors.ts";
import { needsDocker, setupMachines } from "../exec/setup.ts";
import { firewallEntryFor } from "../plan/firewall.ts";
import { describeStep } from "../plan/setup.ts";
import { loadAcmeBundle, loadAgentBundle } from "./agent-bundle.ts";
import { setupMeshCerts } from "./certs.ts";
import { loadNodeRuntime } from "./node-runtime.ts";
import { selectMachines, transportsFor } from "./machines.ts";

export interface SetupOptions {
  /** Machines to set up (default: all). */
  machines?: string[];
  /** Plan only: say what would change on each machine and change nothing. */
  dryRun?: boolean;
  /** Machines at a time (default 10). */
  parallel?: number;
  /** The agent file to install (default: dist/skiff-agent.cjs of this skiff). */
  agentBundle?: string;
  /** The Node binary the agent runs on, shipped to each machine (default: the one running skiff; the CLI takes SKIFF_AGENT_NODE). */
  agentNode?: string;
}

export interface MachineSetupResult {
  machine: string;
  dryRun: boolean;
  /** The steps planned, in words. */
  plan: string[];
  /** Why the machine cannot be set up (an unsupported OS…): nothing was done. */
  problems: string[];
  /** Worth knowing, not wrong (e.g. the agent kept on the machine's own Node because this computer's cannot run on Linux). */
  notes: string[];
  /** System packages (apt) the plan installs: what a tool that sets a machine up for a while (skiff demo) removes later. */
  packages: string[];
  /** Steps carried out. */
  done: string[];
  changed: boolean;
  error?: { message: string; hint?: string };
  /** The failure itself, typed (a RemoteError for a failed remote step). */
  cause?: unknown;
}

export async function setupProject(project: Project, opts: SetupOptions, reporter: Reporter): Promise<MachineSetupResult[]> {
  const machines = selectMachines(project, opts.machines);
  const node = loadNodeRuntime(opts.agentNode);
  const acme = loadAcmeBundle(opts.agentBundle);
  const want = { agent: loadAgentBundle(opts.agentBundle), ...(acme ? { acme } : {}), node: node.facts, needsDocker: needsDocker(project.apps), needsRestic: Object.values(project.apps).some((a) => a.backups) };
  const firewall = (m: MachineSpec) => firewallEntryFor(project, m);
  const results = await setupMachines(transportsFor(project, machines), want, { dryRun: opts.dryRun, reporter, parallel: opts.parallel, nodePayload: node.payload, firewall });
  // Then the mesh certificates, on the machines whose agent is in place (or, dry-run, was there already).
  const ready = results.filter((r) => !r.error && !r.plan?.problems.length && (!opts.dryRun || r.facts?.agent)).map((r) => r.machine);
  // A failure here (the CA key does not decrypt with your key…) is each ready machine's: the rest of setup stands.
  const meshResults = await setupMeshCerts(project, ready, { dryRun: Boolean(opts.dryRun), reporter }).catch((error: unknown) => ready.map((machine) => ({ machine, done: [] as string[], error })));
  const mesh = new Map(meshResults.map((m) => [m.machine, m]));
  for (const r of results) {
    const m = mesh.get(r.machine);
    if (!m) continue;
    if (!opts.dryRun) r.done.push(...m.done);
    r.error ??= m.error;
  }
  return results.map((r) => ({
    machine: r.machine,
    dryRun: Boolean(opts.dryRun),
    plan: [...(r.plan?.steps.map(describeStep) ?? []), ...(opts.dryRun ? (mesh.get(r.machine)?.done ?? []) : [])],
    problems: r.plan?.problems ?? [],
    notes: r.plan?.notes ?? [],
    packages: (r.plan?.steps ?? []).flatMap((s) => (s.kind === "install-packages" ? s.packages : [])),
    done: r.done,
    changed: r.done.length > 0,
    error: r.error instanceof UserError ? { message: r.error.message, hint: r.error.hint } : r.error ? { message: String(r.error) } : undefined,
    ...(r.error ? { cause: r.error } : {}),
  }));
}
