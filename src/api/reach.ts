// skiff exec and skiff run: which machine and instance (pure, from what status
// says), then the agent's short command over ssh with this terminal attached
// (see contracts/reach.ts and agent/reach.ts).
import { randomBytes } from "node:crypto";
import type { Project } from "../config/model.ts";
import { AGENT_BIN } from "../contracts/paths.ts";
import { reachArgv, runName } from "../contracts/reach.ts";
import { UserError } from "../errors.ts";
import { selectApps } from "../plan/release-spec.ts";
import { connect, sshContext } from "../transport/connect.ts";
import type { Transport } from "../transport/types.ts";
import { gatherStatus, isUnreachable, type MachineState } from "./status.ts";

export interface ReachOptions {
  /** The machine (default: the first, in skiff.yml's order, that runs a healthy instance). */
  machine?: string;
  /** Our stdin goes to the command. */
  interactive?: boolean;
  /** A terminal on the machine (ssh -t); implies `interactive`. */
  tty?: boolean;
  /** Ends the command (skiff run: and removes its one-off instance). */
  signal?: AbortSignal;
}

export interface ExecOptions extends ReachOptions {
  /** The instance: its full name or a unique end of it (default: the first healthy one). */
  instance?: string;
}

export interface ReachResult {
  machine: string;
  /** The instance entered (exec) or the one-off's name (run, removed by now). */
  instance: string;
  /** The command's exit code (255: ssh itself failed; 125: the agent refused, and said why on stderr). */
  code: number;
}

const listOf = (xs: string[]) => xs.join(", ") || "none";

function machineOf(project: Project, states: MachineState[], app: string, machine: string | undefined) {
  if (machine !== undefined && !Object.hasOwn(project.machines, machine)) throw new UserError(`no machine named "${machine}"`, { exitCode: 2, hint: `machines: ${listOf(Object.keys(project.machines))}` });
  const down = states.filter(isUnreachable);
  const asked = down.find((m) => m.machine === machine);
  if (asked) throw new UserError(`${asked.machine}: ${asked.problem}`, { hint: asked.error });
  const runs = states.flatMap((m) => (isUnreachable(m) ? [] : m.apps.filter((a) => a.app === app && a.active !== null && a.instances.length).map((a) => ({ machine: m.machine, app: a }))));
  const where = runs.map((r) => r.machine);
  const note = down.length ? ` (not answering: ${listOf(down.map((m) => m.machine))})` : "";
  if (!runs.length) throw new UserError(`${app} runs no instances${note}`, { hint: "`skiff status` shows what runs where; `skiff deploy` starts it" });
  if (machine === undefined) return runs;
  const here = runs.filter((r) => r.machine === machine);
  if (!here.length) throw new UserError(`${app} runs no instances on ${machine}`, { exitCode: 2, hint: `it runs on: ${listOf(where)}${note}` });
  return here;
}

/** Pure: the instance `skiff exec` enters, from what every machine's status says. */
export function chooseInstance(project: Project, states: MachineState[], app: string, opts: Pick<ExecOptions, "machine" | "instance"> = {}): { machine: string; instance: string } {
  const runs = machineOf(project, states, app, opts.machine);
  const all = runs.flatMap((r) => r.app.instances.map((i) => ({ machine: r.machine, i, current: i.release === r.app.active })));
  if (opts.instance !== undefined) {
    const want = opts.instance;
    const exact = all.filter((x) => x.i.name === want);
    const found = exact.length ? exact : all.filter((x) => x.i.name.endsWith(`-${want}`) || x.i.name.endsWith(want));
    if (found.length === 1) return { machine: found[0]!.machine, instance: found[0]!.i.name };
    const names = all.map((x) => `${x.i.name} (${x.machine})`);
    if (!found.length) throw new UserError(`${app} has no instance "${want}"${opts.machine ? ` on ${opts.machine}` : ""}`, { exitCode: 2, hint: `instances: ${listOf(names)}` });
    throw new UserError(`"${want}" names ${found.length} instances of ${app}`, { exitCode: 2, hint: `name one: ${listOf(found.map((x) => x.i.name))}` });
  }
  const healthy = all.find((x) => x.current && x.i.running && x.i.healthy);
  if (healthy) return { machine: healthy.machine, instance: healthy.i.name };
  throw new UserError(`${app} has no healthy instance${opts.machine ? ` on ${opts.machine}` : ""}`, { hint: `name one with --instance: ${listOf(all.map((x) => `${x.i.name} (${x.machine}, ${x.i.running ? x.i.health : "not running"})`))}` });
}

/** Pure: the machine `skiff run` starts its one-off on: one that runs the app (it holds the release's secrets). */
export function chooseRunMachine(project: Project, states: MachineState[], app: string, machine?: string): string {
  return machineOf(project, states, app, machine)[0]!.machine;
}

function checkCommand(verb: string, app: string, command: string[]): void {
  if (!command.length) throw new UserError(`skiff ${verb}: no command to run`, { exitCode: 2, hint: `put it after --: skiff ${verb} ${app} -- ls -la` });
}

function attached(t: Transport, argv: string[], opts: ReachOptions): Promise<number> {
  if (!t.attach) throw new UserError(`${t.machine.name}: this connection cannot attach a terminal`);
  const child = t.attach([AGENT_BIN, ...argv], { tty: Boolean(opts.tty), stdin: Boolean(opts.tty || opts.interactive) });
  return new Promise((resolve) => {
    child.on("error", () => resolve(255));
    child.on("close", (code, signal) => resolve(code ?? (signal ? 130 : 255)));
  });
}

export async function execIn(project: Project, app: string, command: string[], opts: ExecOptions = {}): Promise<ReachResult> {
  selectApps(project, [app]);
  checkCommand("exec", app, command);
  const { machine, instance } = chooseInstance(project, await gatherStatus(project, app), app, opts);
  const t = connect(project.machines[machine]!, sshContext(project));
  const argv = reachArgv("exec", { project: project.name, app, instance, stdin: Boolean(opts.tty || opts.interactive), tty: Boolean(opts.tty), command });
  return { machine, instance, code: await attached(t, argv, opts) };
}

export async function runOneOff(project: Project, app: string, command: string[], opts: ReachOptions = {}): Promise<ReachResult> {
  selectApps(project, [app]);
  checkCommand("run", app, command);
  const machine = chooseRunMachine(project, await gatherStatus(project, app), app, opts.machine);
  const t = connect(project.machines[machine]!, sshContext(project));
  const name = runName(project.name, app, randomBytes(6).toString("hex"));
  const stdin = Boolean(opts.tty || opts.interactive);
  const done = attached(t, reachArgv("run", { project: project.name, app, name, machine, stdin, tty: Boolean(opts.tty), command }), opts);
  // Asked to stop (Ctrl-C without a terminal): the one-off goes now, whatever the ssh session is doing.
  let stopping: Promise<unknown> | undefined;
  const stop = () => void (stopping ??= t.run([AGENT_BIN, ...reachArgv("run-stop", { project: project.name, app, name, stdin: false, tty: false, command: [] })], { step: `remove ${name}`, allowFailure: true, timeoutMs: 60_000 }).catch(() => {}));
  if (opts.signal?.aborted) stop();
  opts.signal?.addEventListener("abort", stop, { once: true });
  try {
    return { machine, instance: name, code: await done };
  } finally {
    opts.signal?.removeEventListener("abort", stop);
    await stopping;
  }
}
