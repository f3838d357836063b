// One simulated machine: the agent's real parts (Store on a tmpfs directory, AgentCore with activation, health
// gate and supervisor logic, the real ProxyController, the RPC handler table and its line server) over an
// in-memory process runtime and HAProxy, reached through an in-process transport instead of ssh.
import type { Socket } from "node:net";
import { join } from "node:path";
import { AgentCore } from "../../src/agent/core.ts";
import { agentInfo, handlers, type Handler } from "../../src/agent/handlers.ts";
import { Jobs } from "../../src/agent/jobs.ts";
import { serveConnection } from "../../src/agent/server.ts";
import { Store } from "../../src/agent/store.ts";
import type { InProcessCommand, InProcessMachine } from "../../src/transport/in-process.ts";
import { SkipClock } from "./clock.ts";
import { simProxy } from "./haproxy.ts";
import { SimRuntime } from "./runtime.ts";

/** What crossed the wire to this machine: RPC calls per method, bytes each way, channels opened. */
export interface Traffic {
  calls: Map<string, number>;
  bytesIn: number;
  bytesOut: number;
  channels: number;
}

export class SimMachine implements InProcessMachine {
  readonly clock = new SkipClock();
  readonly runtime: SimRuntime;
  readonly store: Store;
  readonly core: AgentCore;
  readonly traffic: Traffic = { calls: new Map(), bytesIn: 0, bytesOut: 0, channels: 0 };
  private readonly table: Record<string, Handler>;

  constructor(
    readonly name: string,
    dir: string,
    opts: { bootMs: number },
  ) {
    this.runtime = new SimRuntime(this.clock, opts.bootMs);
    this.store = new Store(join(dir, "state"));
    const { ctl } = simProxy(join(dir, "proxy"), this.clock);
    this.core = new AgentCore(this.store, { process: this.runtime }, ctl, () => {}, { clock: this.clock, probe: this.runtime.probe, portFree: async () => true });
    const real = handlers(agentInfo(join(dir, "no-agent-file"), new Date()), this.core, new Jobs());
    // Counted on the way in; the real handler answers.
    this.table = Object.fromEntries(
      Object.entries(real).map(([method, fn]) => [
        method,
        (params: unknown) => {
          this.traffic.calls.set(method, (this.traffic.calls.get(method) ?? 0) + 1);
          return fn(params);
        },
      ]),
    );
  }

  spawn(cmd: InProcessCommand): void {
    const [, verb, arg] = cmd.argv;
    if (verb === "connect") return this.serve(cmd);
    if (verb === "artifact-put") return this.artifactPut(cmd, arg ?? "");
    cmd.stderr.write(`simulated machine ${this.name}: cannot run ${cmd.argv.join(" ")}\n`);
    cmd.exit(127);
  }

  /** `skiff-agent connect`: the agent's own line server on the command's stdio. */
  private serve(cmd: InProcessCommand): void {
    this.traffic.channels++;
    cmd.stdin.on("data", (b: Buffer) => (this.traffic.bytesIn += b.length));
    cmd.stdin.on("end", () => cmd.exit(0));
    const sock = {
      on: (event: string, fn: (...a: unknown[]) => void) => (cmd.stdin.on(event, fn), sock),
      write: (s: string) => {
        this.traffic.bytesOut += Buffer.byteLength(s);
        return cmd.stdout.write(s);
      },
    };
    serveConnection(sock as unknown as Socket, this.table);
  }

  /** `skiff-agent artifact-put SHA`: the tar stream is read to its end (not unpacked); the artifact is then here. */
  private artifactPut(cmd: InProcessCommand, sha: string): void {
    cmd.stdin.on("data", (b: Buffer) => (this.traffic.bytesIn += b.length));
    cmd.stdin.on("end", () => {
      this.runtime.artifacts.add(`artifact:${sha}`);
      cmd.exit(0);
    });
  }
}
