import { spawn, type ChildProcess } from "node:child_process";
import type { MachineSpec } from "../config/model.ts";
import { runProcess } from "./process.ts";
import { commandLine } from "../lib/quote.ts";
import { RemoteError, relevantStderr, sshHint } from "./remote-error.ts";
import { ensureSocketDir } from "./socket-dir.ts";
import { sshDestination, sshOptions, type SshContext } from "./ssh-args.ts";
import type { AgentStream, RunOptions, RunResult, Transport } from "./types.ts";
import { AGENT_BIN, SOCKET } from "../contracts/paths.ts";
import { socketChannel } from "./agent-socket.ts";
import { forwardable, forwardPath, openForward, type ForwardSpec } from "./agent-forward.ts";

/** The forward that carries a root login's agent channels (agent-forward.ts); none for other users (they go
 *  through `sudo -n skiff-agent connect`) or where the socket path cannot be a forward. Also what a cold start
 *  begins early from the cached project (cli/prewarm.ts): the same argv, built by the same code. */
export function forwardSpec(machine: MachineSpec, ctx: SshContext): ForwardSpec | undefined {
  const local = forwardPath(ctx.socketDir, machine);
  if (machine.local || machine.user !== "root" || !forwardable(local)) return undefined;
  return { machine: machine.name, local, remote: SOCKET, base: sshOptions(machine, ctx), dest: sshDestination(machine) };
}

/** Runs commands on a machine through the system ssh binary. */
export class SshTransport implements Transport {
  readonly viaSsh = true;
  private socketDirChecked = false;
  /** The ssh server would not forward the agent's socket: `skiff-agent connect` carries this machine's channels. */
  private forwardRefused = false;
  constructor(
    readonly machine: MachineSpec,
    private readonly ctx: SshContext,
  ) {}

  /** Checked before the first ssh that uses the ControlPath, not when the transport is made. */
  private ssh(args: string[]): string[] {
    if (!this.socketDirChecked) ensureSocketDir(this.ctx.socketDir);
    this.socketDirChecked = true;
    return args;
  }

  private elevate(argv: readonly string[]): readonly string[] {
    return this.machine.user === "root" ? argv : ["sudo", "-n", "--", ...argv];
  }

  /** ssh argv for a remote command line. */
  sshArgv(remote: readonly string[]): string[] {
    return [...sshOptions(this.machine, this.ctx), ...sshDestination(this.machine), commandLine(this.elevate(remote))];
  }

  async run(argv: readonly string[], opts: RunOptions): Promise<RunResult> {
    const res = await runProcess("ssh", this.ssh(this.sshArgv(argv)), { stdin: opts.stdin, timeoutMs: opts.timeoutMs });
    if (res.code !== 0 && !opts.allowFailure) throw this.failure(opts.step, argv, res);
    return res;
  }

  script(body: string, args: readonly string[], opts: RunOptions): Promise<RunResult> {
    if (opts.stdin !== undefined) throw new Error("script() sends the script on stdin; pass data as a file or argument");
    return this.run(["sh", "-s", "--", ...args], { ...opts, stdin: body });
  }

  spawn(argv: readonly string[]): ChildProcess {
    return spawn("ssh", this.ssh(this.sshArgv(argv)), { stdio: ["pipe", "pipe", "pipe"] });
  }

  attach(argv: readonly string[], opts: { tty: boolean; stdin: boolean }): ChildProcess {
    const args = [...sshOptions(this.machine, this.ctx), ...(opts.tty ? ["-t"] : []), ...sshDestination(this.machine), commandLine(this.elevate(argv))];
    return spawn("ssh", this.ssh(args), { stdio: [opts.stdin ? "inherit" : "pipe", "inherit", "inherit"] });
  }

  /**
   * Root logins reach the agent's socket through a forward on the shared
   * connection (agent-forward.ts); others through `sudo -n skiff-agent connect`.
   */
  agentStream(): AgentStream {
    const f = forwardSpec(this.machine, this.ctx);
    if (!f || this.forwardRefused) return this.spawn([AGENT_BIN, "connect"]);
    // Checked before connecting to anything in the directory: a socket there must be one of ours.
    this.ssh([]);
    return socketChannel(
      () => openForward(f),
      // Why nothing answered, in the words `skiff-agent connect` would have used.
      () => this.run([AGENT_BIN, "call", "ping"], { step: "agent check", allowFailure: true, timeoutMs: 15_000 }),
      // The agent answers a ping but not through the forward: the ssh server refuses unix-socket forwarding
      // (AllowStreamLocalForwarding no, DisableForwarding yes). The old channel, from now on.
      () => ((this.forwardRefused = true), this.spawn([AGENT_BIN, "connect"])),
    );
  }

  failure(step: string, argv: readonly string[], res: RunResult): RemoteError {
    const hint = res.code === 255 ? sshHint(this.machine.name, res.stderr) ?? "run `skiff machines check` for details" : undefined;
    return new RemoteError(this.machine.name, step, commandLine(argv), res.code, res.signal, relevantStderr(res.stderr), true, hint);
  }

  async close(): Promise<void> {
    await runProcess("ssh", this.ssh([...sshOptions(this.machine, this.ctx), "-O", "exit", ...sshDestination(this.machine)]), { timeoutMs: 5000 });
  }
}
