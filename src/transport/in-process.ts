// A transport to a machine that lives in this process: what a simulated fleet
// (bench/fleet-sim) and tests plug in through connect.ts's transport hook. The
// CLI's code above it is unchanged: an AgentClient still spawns `skiff-agent
// connect` and speaks JSON lines; here spawn hands the command's stdio to a
// function of the simulation instead of ssh.
import type { ChildProcess } from "node:child_process";
import { EventEmitter } from "node:events";
import { PassThrough } from "node:stream";
import type { MachineSpec } from "../config/model.ts";
import type { RunOptions, RunResult, Transport } from "./types.ts";

/** A spawned command as the machine's side sees it: what the CLI writes, where to answer, and how to end. */
export interface InProcessCommand {
  argv: readonly string[];
  /** What the CLI writes to the command's stdin. */
  stdin: PassThrough;
  stdout: PassThrough;
  stderr: PassThrough;
  /** Ends the command with this exit code (once; later calls do nothing). */
  exit(code: number): void;
}

/** What the simulated machine does with a command: long-lived ones (agent RPC) keep `cmd` open. */
export type InProcessMachine = {
  spawn(cmd: InProcessCommand): void;
  /** run/script: argv or a script body; nothing on the deploy path uses them, so the default refuses. */
  run?(argv: readonly string[], opts: RunOptions & { script?: string }): Promise<RunResult>;
};

class InProcessChild extends EventEmitter {
  readonly stdin = new PassThrough();
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();
  exitCode: number | null = null;
  pid = undefined;
  killed = false;

  constructor() {
    super();
    // A closed stdin ends the command, as for a real child whose peer hangs up.
    this.stdin.on("error", () => {});
  }

  kill(): boolean {
    this.killed = true;
    this.stdin.end();
    return true;
  }
}

export class InProcessTransport implements Transport {
  readonly viaSsh = false;

  constructor(
    readonly machine: MachineSpec,
    private readonly target: InProcessMachine,
  ) {}

  async run(argv: readonly string[], opts: RunOptions): Promise<RunResult> {
    if (!this.target.run) throw new Error(`${this.machine.name}: the in-process machine runs no commands (asked: ${argv.join(" ")}, step ${opts.step})`);
    return this.target.run(argv, opts);
  }

  script(body: string, args: readonly string[], opts: RunOptions): Promise<RunResult> {
    return this.run(["sh", "-s", "--", ...args], { ...opts, stdin: body });
  }

  spawn(argv: readonly string[]): ChildProcess {
    const child = new InProcessChild();
    let ended = false;
    const exit = (code: number) => {
      if (ended) return;
      ended = true;
      child.exitCode = code;
      child.stdout.end();
      child.stderr.end();
      // After the streams' last data, as a real child's "close" comes after its output.
      setImmediate(() => {
        child.emit("exit", code, null);
        child.emit("close", code, null);
      });
    };
    // The machine answers on a later turn, as a process would: callers attach their listeners first.
    setImmediate(() => this.target.spawn({ argv, stdin: child.stdin, stdout: child.stdout, stderr: child.stderr, exit }));
    return child as unknown as ChildProcess;
  }

  async close(): Promise<void> {}
}
