import type { ChildProcess } from "node:child_process";
import type { Readable, Writable } from "node:stream";
import type { MachineSpec } from "../config/model.ts";

export interface RunOptions {
  /** Short name of the step, for errors and progress ("install haproxy"). */
  step: string;
  /** Data for the command's stdin: scripts, files, secrets. Never put those in argv. */
  stdin?: string | Buffer;
  timeoutMs?: number;
  /** Return the result instead of throwing on a non-zero exit. */
  allowFailure?: boolean;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  code: number | null;
  signal: string | null;
}

/** How skiff reaches one machine. Commands are argv arrays; quoting happens inside. */
export interface Transport {
  readonly machine: MachineSpec;
  readonly viaSsh: boolean;
  /** Runs argv (elevated with sudo when the login user is not root). */
  run(argv: readonly string[], opts: RunOptions): Promise<RunResult>;
  /** Runs a POSIX sh script sent on stdin, with positional arguments. */
  script(body: string, args: readonly string[], opts: RunOptions): Promise<RunResult>;
  /** Starts argv with piped stdio, for long-lived streams such as agent RPC. */
  spawn(argv: readonly string[]): ChildProcess;
  /**
   * Starts argv with this process's stdout and stderr (skiff exec, skiff run): a terminal on the machine with
   * `tty` (ssh -t); our stdin with `stdin`, else a pipe held open and never written (its end tells the machine
   * that we are gone).
   */
  attach?(argv: readonly string[], opts: { tty: boolean; stdin: boolean }): ChildProcess;
  /**
   * The agent's RPC channel when the transport reaches the socket itself (no
   * process on the machine); without it, AgentClient spawns `skiff-agent connect`.
   */
  agentStream?(): AgentStream;
  /** Closes a shared connection, if any. */
  close(): Promise<void>;
}

/** The agent's RPC channel as AgentClient uses it: a `skiff-agent connect` child's stdio and its exit, or a socket dressed as one. */
export interface AgentStream {
  readonly stdin: Writable | null;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  on(event: "close", listener: (code: number | null) => void): unknown;
}
