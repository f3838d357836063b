// `skiff-agent exec | run | run-stop`: the command lines the CLI sends over ssh
// for skiff exec and skiff run, and how the agent reads them back. Both sides
// use this file, so the two cannot drift. The user's command travels as argv
// words after `--` (quoted at the ssh boundary like every remote command); the
// app's env and secrets never travel: the agent reads them on the machine.
//
// Without `--stdin` the CLI keeps the command's stdin open and sends nothing:
// its end means the CLI is gone (Ctrl-C, a dropped connection), and the agent
// then ends what it started.

export type ReachVerb = "exec" | "run" | "run-stop";

export interface ReachArgs {
  project: string;
  app: string;
  /** exec: the instance to enter. */
  instance?: string;
  /** run, run-stop: the one-off instance's name (chosen by the CLI, so it can stop it). */
  name?: string;
  /** run: the machine's name in skiff.yml (SKIFF_MACHINE). */
  machine?: string;
  /** The user's stdin goes to the command. */
  stdin: boolean;
  /** A terminal (ssh -t): Docker gets -t too. */
  tty: boolean;
  command: string[];
}

const NAME = /^[a-z0-9][a-z0-9_.-]*$/i;

/** One-off instances of `skiff run`: `skiff-<project>-<app>-run-<12 hex>`. */
export const runName = (project: string, app: string, hex: string) => `skiff-${project}-${app}-run-${hex}`;
export const isRunName = (name: string, project: string, app: string) => name.startsWith(`skiff-${project}-${app}-run-`) && /-run-[0-9a-f]{12}$/.test(name);

/** The agent's argv after its binary: `exec --project P --app A --instance I [--stdin] [--tty] -- CMD…`. */
export function reachArgv(verb: ReachVerb, a: ReachArgs): string[] {
  const opt = (k: string, v: string | undefined) => (v === undefined ? [] : [`--${k}`, v]);
  return [verb, ...opt("project", a.project), ...opt("app", a.app), ...opt("instance", a.instance), ...opt("name", a.name), ...opt("machine", a.machine), ...(a.stdin ? ["--stdin"] : []), ...(a.tty ? ["--tty"] : []), "--", ...a.command];
}

/** Reads what reachArgv wrote; throws an Error naming what is wrong. */
export function parseReachArgs(verb: ReachVerb, args: string[]): ReachArgs {
  const out: ReachArgs = { project: "", app: "", stdin: false, tty: false, command: [] };
  let i = 0;
  for (; i < args.length && args[i] !== "--"; i++) {
    const a = args[i]!;
    if (a === "--stdin" || a === "--tty") {
      out[a === "--stdin" ? "stdin" : "tty"] = true;
      continue;
    }
    const key = /^--(project|app|instance|name|machine)$/.exec(a)?.[1] as "project" | "app" | "instance" | "name" | "machine" | undefined;
    const value = args[i + 1];
    if (!key || value === undefined) throw new Error(`${verb}: unexpected argument ${JSON.stringify(a)}`);
    if (key !== "machine" && !NAME.test(value)) throw new Error(`${verb}: --${key} ${JSON.stringify(value)} is not a name`);
    out[key] = value;
    i++;
  }
  out.command = args.slice(i + 1);
  if (!out.project || !out.app) throw new Error(`${verb}: --project and --app are needed`);
  if (verb === "exec" && !out.instance) throw new Error("exec: --instance is needed");
  if (verb !== "exec" && !(out.name && isRunName(out.name, out.project, out.app))) throw new Error(`${verb}: --name must be a one-off instance of ${out.app} (${runName(out.project, out.app, "<12 hex>")})`);
  if (verb !== "run-stop" && !out.command.length) throw new Error(`${verb}: no command after --`);
  return out;
}
