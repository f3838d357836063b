import { spawn, type ChildProcess } from "node:child_process";
import type { MachineSpec } from "../config/model.ts";
import { runProcess } from "./process.ts";
import { commandLine } from "../lib/quote.ts";
import { RemoteError, relevantStderr } from "./remote-error.ts";
import type { AgentStream, RunOptions, RunResult, Transport } from "./types.ts";
import { AGENT_BIN, SOCKET } from "../contracts/paths.ts";
import { connectUnix, socketChannel } from "./agent-socket.ts";

/** The `local` machine: the same steps, run here without ssh (and without a shell for argv). */
export class LocalTransport implements Transport {
  readonly viaSsh = false;
  constructor(readonly machine: MachineSpec) {}

  /** Like an ssh login as a non-root user: root's work goes through `sudo -n` (never a password prompt). */
  private elevate(argv: readonly string[]): readonly string[] {
    return process.getuid?.() === 0 ? argv : ["sudo", "-n", "--", ...argv];
  }

  async run(argv: readonly string[], opts: RunOptions): Promise<RunResult> {
    const [file, ...args] = this.elevate(argv);
    const res = await runProcess(file!, args, { stdin: opts.stdin, timeoutMs: opts.timeoutMs });
    if (res.code !== 0 && !opts.allowFailure) {
      const sudo = /sudo: (a password is required|a terminal is required)/.test(res.stderr) ? "this machine's setup needs root: run skiff as root, or allow passwordless sudo" : undefined;
      throw new RemoteError(this.machine.name, opts.step, commandLine(argv), res.code, res.signal, relevantStderr(res.stderr), false, sudo);
    }
    return res;
  }

  script(body: string, args: readonly string[], opts: RunOptions): Promise<RunResult> {
    return this.run(["sh", "-s", "--", ...args], { ...opts, stdin: body });
  }

  spawn(argv: readonly string[]): ChildProcess {
    const [file, ...args] = this.elevate(argv);
    return spawn(file!, args, { stdio: ["pipe", "pipe", "pipe"] });
  }

  /** Here the terminal is ours already: `tty` needs nothing more. */
  attach(argv: readonly string[], opts: { tty: boolean; stdin: boolean }): ChildProcess {
    const [file, ...args] = this.elevate(argv);
    return spawn(file!, args, { stdio: [opts.stdin ? "inherit" : "pipe", "inherit", "inherit"] });
  }

  /** As root, the agent's socket itself (the socket is root's alone); otherwise `sudo -n skiff-agent connect`. */
  agentStream(): AgentStream {
    if (process.getuid?.() !== 0) return this.spawn([AGENT_BIN, "connect"]);
    const socket = process.env.SKIFF_AGENT_SOCKET || SOCKET;
    return socketChannel(
      () => connectUnix(socket),
      // Why nothing answered; no agent command here at all is what a shell would call "not found".
      () => this.run([AGENT_BIN, "call", "ping"], { step: "agent check", allowFailure: true, timeoutMs: 15_000 }).catch(() => ({ code: 127, stderr: `${AGENT_BIN}: not found\n` })),
    );
  }

  async close(): Promise<void> {}
}
