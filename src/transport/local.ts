import { spawn, type ChildProcess } from "node:child_process";
import type { MachineSpec } from "../config/model.ts";
import { runProcess } from "./process.ts";
import { commandLine } from "./quote.ts";
import { RemoteError, relevantStderr } from "./remote-error.ts";
import type { RunOptions, RunResult, Transport } from "./types.ts";

/** The `local` machine: the same steps, run here without ssh (and without a shell for argv). */
export class LocalTransport implements Transport {
  readonly viaSsh = false;
  constructor(readonly machine: MachineSpec) {}

  async run(argv: readonly string[], opts: RunOptions): Promise<RunResult> {
    const [file, ...args] = argv;
    const res = await runProcess(file!, args, { stdin: opts.stdin, timeoutMs: opts.timeoutMs });
    if (res.code !== 0 && !opts.allowFailure) {
      throw new RemoteError(this.machine.name, opts.step, commandLine(argv), res.code, res.signal, relevantStderr(res.stderr), false);
    }
    return res;
  }

  script(body: string, args: readonly string[], opts: RunOptions): Promise<RunResult> {
    return this.run(["sh", "-s", "--", ...args], { ...opts, stdin: body });
  }

  spawn(argv: readonly string[]): ChildProcess {
    return spawn(argv[0]!, argv.slice(1), { stdio: ["pipe", "pipe", "pipe"] });
  }

  async close(): Promise<void> {}
}
