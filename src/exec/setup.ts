// Runs setup plans: probe each machine, plan, then execute the steps in order,
// machines in parallel. A failure puts back files written in this run.
import { PROBE_SCRIPT, parseFacts, type MachineFacts } from "../machines/probe.ts";
import { describeStep, planSetup, type SetupDesired, type SetupPlan, type SetupStep } from "../plan/setup.ts";
import type { Transport } from "../transport/types.ts";
import type { Reporter } from "../contracts/events.ts";
import { settleAll } from "../lib/parallel.ts";
import { createDirs, installPackages, restoreFile, startAgent, startDocker, writeFile, type RemoteCommand } from "./remote-steps.ts";

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

function command(s: SetupStep, want: SetupDesired): RemoteCommand {
  switch (s.kind) {
    case "install-packages":
      return installPackages(s.packages);
    case "start-docker":
      return startDocker(s.systemd);
    case "create-dirs":
      return createDirs();
    case "write-file":
      return writeFile(s.file);
    case "start-agent":
      return startAgent(s.systemd, want.agent.sha256);
  }
}

async function setupOne(t: Transport, want: SetupDesired, opts: { dryRun: boolean; reporter: Reporter }): Promise<MachineSetup> {
  const name = t.machine.name;
  const result: MachineSetup = { machine: name, done: [] };
  const facts = await probe(t);
  result.facts = facts;
  const plan = planSetup(facts, want);
  result.plan = plan;
  if (plan.problems.length || opts.dryRun) return result;

  const written: string[] = [];
  for (const step of plan.steps) {
    const label = describeStep(step);
    const started = Date.now();
    opts.reporter.emit({ type: "step", machine: name, step: label, status: "start" });
    const cmd = command(step, want);
    try {
      await t.run(cmd.argv, { step: label, stdin: cmd.stdin, timeoutMs: cmd.timeoutMs });
    } catch (e) {
      opts.reporter.emit({ type: "step", machine: name, step: label, status: "failed", ms: Date.now() - started });
      await undoWrites(t, written, step, opts.reporter);
      throw e;
    }
    if (step.kind === "write-file") written.push(step.file.path);
    result.done.push(label);
    opts.reporter.emit({ type: "step", machine: name, step: label, status: "ok", ms: Date.now() - started });
  }
  return result;
}

/** Puts back what this run wrote, and the agent that ran before, after a later step failed. */
async function undoWrites(t: Transport, written: string[], failed: SetupStep, reporter: Reporter): Promise<void> {
  if (!written.length) return;
  for (const path of written.reverse()) {
    const r = restoreFile(path);
    await t.run(r.argv, { step: `restore ${path}`, allowFailure: true });
  }
  if (failed.kind === "start-agent" && failed.restart) {
    const again = startAgent(failed.systemd, "");
    await t.run(again.argv, { step: "restart the previous agent", allowFailure: true, timeoutMs: again.timeoutMs });
  }
  reporter.emit({ type: "step", machine: t.machine.name, step: `put back ${written.length} file(s) written in this run`, status: "undone" });
}

export async function setupMachines(transports: Transport[], want: SetupDesired, opts: { dryRun?: boolean; reporter: Reporter; parallel?: number }): Promise<MachineSetup[]> {
  const settled = await settleAll(transports, opts.parallel ?? 10, (t) => setupOne(t, want, { dryRun: opts.dryRun ?? false, reporter: opts.reporter }));
  return settled.map((s, i) => (s.ok ? s.value : { machine: transports[i]!.machine.name, done: [], error: s.error }));
}

export function needsDocker(apps: Record<string, { image?: string; build?: unknown }>): boolean {
  const list = Object.values(apps);
  return list.length === 0 || list.some((a) => a.image || a.build);
}
