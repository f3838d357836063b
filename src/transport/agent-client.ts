// The CLI's RPC channel to one machine's agent, JSON lines both ways: the
// agent's socket itself where the transport reaches it (a forward on the shared
// ssh connection, or the local socket), else `skiff-agent connect` over the
// transport (a non-root login through sudo, a simulated machine).
import { AGENT_BIN, STATE_DIR } from "../contracts/paths.ts";
import type { Project } from "../config/model.ts";
import { encode, lineReader, type Response } from "../contracts/protocol.ts";
import type { RpcMethod, RpcParams, RpcResult } from "../contracts/rpc.ts";
import { UserError } from "../errors.ts";
import { relevantStderr, sshHint } from "./remote-error.ts";
import { connect, sshContext } from "./connect.ts";
import type { AgentStream, Transport } from "./types.ts";
import { settleAll } from "../lib/parallel.ts";

/** The agent answered, with an error: the machine is reachable, something on it is wrong. */
export class AgentRefused extends UserError {
  constructor(
    readonly machine: string,
    message: string,
    readonly code: string | undefined,
    hint?: string,
  ) {
    super(message, { hint });
  }
}

/** What to do when skiff's firewall cannot be set on a machine (nft missing or refusing). */
export const firewallHint = (machine: string) => `install Debian's nftables on ${machine} (\`skiff setup ${machine}\` does), or set \`firewall: false\` on ${machine} in skiff.yml when another firewall manager owns it`;

/** A refusal worded for what it is: a full disk is not "unreachable" and not a bug. */
export function refusal(machine: string, method: string, err: { message: string; code?: string }): AgentRefused {
  if (err.code === "ENOSPC" || err.code === "EDQUOT") {
    return new AgentRefused(machine, `${machine}: the disk of ${STATE_DIR} is full (${method}: ${err.message})`, err.code, `free space on ${machine} (see \`df -h ${STATE_DIR}\`; unused images: \`docker image prune\`), then run the command again`);
  }
  if (err.code === "ENFT") return new AgentRefused(machine, `${machine}: firewall (${method}): ${err.message}`, err.code, firewallHint(machine));
  if (err.code === "EROFS") return new AgentRefused(machine, `${machine}: ${STATE_DIR} is on a read-only filesystem (${method}: ${err.message})`, err.code, `check the disk of ${machine} (\`mount\`, \`dmesg\`)`);
  return new AgentRefused(machine, `${machine}: agent refused ${method}: ${err.message}`, err.code);
}

export class AgentClient {
  private child?: AgentStream;
  private nextId = 1;
  private pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; method: string }>();
  private stderr = "";
  private closed?: Error;

  constructor(readonly transport: Transport) {}

  get machine(): string {
    return this.transport.machine.name;
  }

  private open(): AgentStream {
    if (this.child) return this.child;
    const child = this.transport.agentStream?.() ?? this.transport.spawn([AGENT_BIN, "connect"]);
    this.stderr = "";
    child.stdout!.on("data", lineReader((v) => this.onResponse(v as Response)));
    child.stderr!.on("data", (b: Buffer) => (this.stderr += b.toString()));
    child.stdin!.on("error", () => {});
    child.on("close", (code) => {
      // A channel closed earlier (close(), then a new call) must not fail the new one's calls.
      if (this.child && this.child !== child) return;
      const lines = relevantStderr(this.stderr);
      const why = code === 255 ? sshHint(this.machine, this.stderr) : lines.some((l) => /cannot reach the agent|No such file|not found/.test(l)) ? `the agent is not running on ${this.machine}: run \`skiff setup ${this.machine}\`` : undefined;
      this.closed = new UserError(`${this.machine}: lost the connection to the agent (exit ${code}${code === 255 ? ": ssh itself failed" : ""})${lines.length ? "\n" + lines.map((l) => `  │ ${l}`).join("\n") : ""}`, { hint: why });
      for (const p of this.pending.values()) p.reject(this.closed);
      this.pending.clear();
      this.child = undefined;
    });
    this.child = child;
    return child;
  }

  private onResponse(res: Response): void {
    const p = this.pending.get(res.id);
    if (!p) return;
    this.pending.delete(res.id);
    if ("error" in res) p.reject(refusal(this.machine, p.method, res.error));
    else p.resolve(res.result);
  }

  /** A method of contracts/rpc.ts: its parameters and result typed from its schema. */
  call<M extends RpcMethod>(method: M, ...params: undefined extends RpcParams<M> ? [params?: RpcParams<M>] : [params: RpcParams<M>]): Promise<RpcResult<M>>;
  /** Any method, the caller naming the result type. */
  call<T>(method: string, params?: unknown): Promise<T>;
  call<T>(method: string, params?: unknown): Promise<T> {
    this.closed = undefined;
    const child = this.open();
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, method });
      child.stdin!.write(encode({ id, method, params }));
    });
  }

  close(): void {
    this.child?.stdin?.end();
    this.child = undefined;
  }
}

/** One RPC channel per machine of the project. */
export function agentClients(project: Project): AgentClient[] {
  const ctx = sshContext(project);
  return Object.values(project.machines).map((m) => new AgentClient(connect(m, ctx)));
}

/** Runs `fn` with one channel per machine of the project (reading only: no lock), and closes them after. */
export async function withAgentClients<T>(project: Project, fn: (clients: AgentClient[]) => Promise<T>): Promise<T> {
  const clients = agentClients(project);
  try {
    return await fn(clients);
  } finally {
    for (const c of clients) c.close();
  }
}

export type Answer<T> = { machine: string; ok: true; value: T } | { machine: string; ok: false; error: unknown };

/** Asks every machine at once and closes the channels; one machine's failure does not hide the others' answers. */
export async function askAll<T>(project: Project, ask: (c: AgentClient) => Promise<T>): Promise<Answer<T>[]> {
  return withAgentClients(project, async (clients) => {
    const res = await settleAll(clients, 20, ask);
    return res.map((r, i) => (r.ok ? { machine: clients[i]!.machine, ok: true as const, value: r.value } : { machine: clients[i]!.machine, ok: false as const, error: r.error }));
  });
}
