// What every command handler gets: the loaded project, transports and a reporter.
import type { MachineSpec, Project } from "../config/model.ts";
import { loadProject } from "../config/load.ts";
import { suggest } from "../config/suggest.ts";
import { UserError } from "../errors.ts";
import { jsonReporter, plainReporter, type Reporter } from "../contracts/events.ts";
import { connect, sshContext } from "../transport/connect.ts";
import type { Transport } from "../transport/types.ts";

export interface GlobalOptions {
  config?: string;
  env?: string;
  json?: boolean;
}

export interface Ctx {
  project: Project;
  json: boolean;
  reporter: Reporter;
  out: (line: string) => void;
}

export function makeCtx(g: GlobalOptions): Ctx {
  const project = loadProject({ file: g.config, environment: g.env });
  return { project, json: Boolean(g.json), reporter: g.json ? jsonReporter() : plainReporter(), out: (l) => void process.stdout.write(l + "\n") };
}

/** The named machines (all when none are named); unknown names are an error with a suggestion. */
export function selectMachines(project: Project, names: string[]): MachineSpec[] {
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
