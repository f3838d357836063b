// Runs setup plans: probe each machine once, plan, then execute the steps in
// two round trips, machines in parallel. A failure puts back files written in this run.
import { PROBE_SCRIPT, parseFacts, type MachineFacts } from "../machines/probe.ts";
import { describeStep, planSetup, type SetupDesired, type SetupPlan, type SetupStep } from "../plan/setup.ts";
import type { Transport } from "../transport/types.ts";
import type { MachineSpec } from "../config/model.ts";
import type { FirewallEntry } from "../contracts/firewall.ts";
import type { Reporter } from "../contracts/events.ts";
import { settleAll } from "../lib/parallel.ts";
import { setFirewallOver } from "./firewall.ts";
import { applyAndStart, installNode, installPackages, restoreNode, startDocker } from "./remote-steps.ts";

export interface MachineSetup {
  machine: string;
  facts?: MachineFacts;
  plan?: SetupPlan;
  /** Steps carried out. */
  done: string[];
  error?: unknown;
}

export async function probe(t: Transport): Promise<MachineFacts> {
  const res = await t.script(PROBE_SCRIPT, [], { step: "read machine facts", timeoutMs: 30_000 });
  return parseFacts(res.stdout);
}

export interface SetupRun {
  dryRun: boolean;
  reporter: Reporter;
  /** The Node runtime, gzip-compressed, read once for every machine that lacks it. */
  nodePayload: () => Promise<Buffer>;
}

/** Steps that don't depend on each other (apt, dockerd, the runtime's upload): run side by side. */
const INDEPENDENT = new Set<SetupStep["kind"]>(["install-packages", "start-docker", "install-node"]);

async function runOne(t: Transport, step: SetupStep, run: SetupRun): Promise<void> {
  const cmd = step.kind === "install-packages" ? installPackages(step.packages) : step.kind === "start-docker" ? startDocker(step.systemd) : step.kind === "install-node" ? { ...installNode(step.node.sha256), stdin: await run.nodePayload() } : undefined;
  if (!cmd) throw new Error(`step ${step.kind} does not run alone`);
  await t.run(cmd.argv, { step: describeStep(step), stdin: cmd.stdin, timeoutMs: cmd.timeoutMs });
}

async function timedStep<T>(name: string, label: string, run: SetupRun, fn: () => Promise<T>): Promise<T> {
  const started = Date.now();
  run.reporter.emit({ type: "step", machine: name, step: label, status: "start" });
  try {
    const v = await fn();
    run.reporter.emit({ type: "step", machine: name, step: label, status: "ok", ms: Date.now() - started });
    return v;
  } catch (e) {
    run.reporter.emit({ type: "step", machine: name, step: label, status: "failed", ms: Date.now() - started });
    throw e;
  }
}

/**
 * Per machine: one probe, the independent steps in parallel, then the
 * directories, files and agent start in one round trip (see applyAndStart).
 */
async function setupOne(t: Transport, want: SetupDesired, run: SetupRun): Promise<MachineSetup> {
  const name = t.machine.name;
  const result: MachineSetup = { machine: name, done: [] };
  const facts = await probe(t);
  result.facts = facts;
  const plan = planSetup(facts, want);
  result.plan = plan;
  if (plan.problems.length || run.dryRun) return result;

  const first = plan.steps.filter((s) => INDEPENDENT.has(s.kind));
  const settled = await Promise.allSettled(first.map((s) => timedStep(name, describeStep(s), run, () => runOne(t, s, run))));
  settled.forEach((r, i) => r.status === "fulfilled" && result.done.push(describeStep(first[i]!)));
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === "rejected");
  const nodeInstalled = first.some((s, i) => s.kind === "install-node" && settled[i]!.status === "fulfilled");
  if (failed) {
    if (nodeInstalled) await undoNode(t, run.reporter);
    throw failed.reason;
  }

  const rest = plan.steps.filter((s) => !INDEPENDENT.has(s.kind) && s.kind !== "firewall");
  await agentFiles(t, want, run, rest, nodeInstalled, result);
  // Once the agent runs (the one just started, or the one that was there): it keeps the firewall.
  const fw = plan.steps.find((s) => s.kind === "firewall");
  if (fw) {
    await timedStep(name, describeStep(fw), run, () => setFirewallOver(t, fw.entry, describeStep(fw)));
    result.done.push(describeStep(fw));
  }
  return result;
}

/** The directories, the agent's files and its (re)start, in one round trip; a failure puts back the files. */
async function agentFiles(t: Transport, want: SetupDesired, run: SetupRun, rest: SetupStep[], nodeInstalled: boolean, result: MachineSetup): Promise<void> {
  const name = t.machine.name;
  if (!rest.length) return;
  const files = rest.flatMap((s) => (s.kind === "write-file" ? [s.file] : []));
  const start = rest.find((s) => s.kind === "start-agent");
  const body = applyAndStart({ createDirs: rest.some((s) => s.kind === "create-dirs"), files, start: start && { systemd: start.systemd, restart: start.restart, expectSha: want.agent.sha256 }, nodeInstalled });
  const label = [rest.some((s) => s.kind === "create-dirs") ? "create /var/lib/skiff" : "", files.length ? `write ${files.map((f) => f.label).join(", ")}` : "", start ? describeStep(start) : ""].filter(Boolean).join(", ");
  try {
    await timedStep(name, label, run, () => t.script(body, [want.agent.sha256], { step: label, timeoutMs: 60_000 }));
  } catch (e) {
    if (files.length || nodeInstalled) run.reporter.emit({ type: "step", machine: name, step: `put back ${files.length + (nodeInstalled ? 1 : 0)} file(s) written in this run`, status: "undone" });
    throw e;
  }
  result.done.push(...rest.map(describeStep));
}

async function undoNode(t: Transport, reporter: Reporter): Promise<void> {
  const r = restoreNode();
  await t.run(r.argv, { step: "put back the previous Node runtime", allowFailure: true });
  reporter.emit({ type: "step", machine: t.machine.name, step: "put back the Node runtime written in this run", status: "undone" });
}

export async function setupMachines(transports: Transport[], want: SetupDesired, opts: { dryRun?: boolean; reporter: Reporter; parallel?: number; nodePayload: () => Promise<Buffer>; firewall?: (machine: MachineSpec) => FirewallEntry }): Promise<MachineSetup[]> {
  const run: SetupRun = { dryRun: opts.dryRun ?? false, reporter: opts.reporter, nodePayload: opts.nodePayload };
  const settled = await settleAll(transports, opts.parallel ?? 10, (t) => setupOne(t, opts.firewall ? { ...want, firewall: opts.firewall(t.machine) } : want, run));
  return settled.map((s, i) => (s.ok ? s.value : { machine: transports[i]!.machine.name, done: [], error: s.error }));
}

export function needsDocker(apps: Record<string, { image?: string; build?: unknown }>): boolean {
  const list = Object.values(apps);
  return list.length === 0 || list.some((a) => a.image || a.build);
}
