// An in-memory process runtime for a simulated machine: instances are records, an artifact is "on the machine"
// once shipped to it (artifact-put), and an instance answers its health check `bootMs` of simulated time after
// it starts. The agent's real code drives it (activation, health gate, supervisor).
import type { CheckResult } from "../../src/agent/health.ts";
import type { InstanceStatus, Runtime, StartSpec } from "../../src/runtime/types.ts";
import type { SkipClock } from "./clock.ts";

interface SimInstance {
  port: number;
  running: boolean;
  startedAt: number;
}

export class SimRuntime implements Runtime {
  readonly insts = new Map<string, SimInstance>();
  /** Artifacts (artifact:<sha256>) shipped here. */
  readonly artifacts = new Set<string>();
  private readonly byPort = new Map<number, string>();
  started = 0;

  constructor(
    private readonly clock: SkipClock,
    private readonly bootMs: number,
  ) {}

  async start(s: StartSpec): Promise<void> {
    this.started++;
    this.insts.set(s.name, { port: s.hostPort, running: true, startedAt: this.clock.now() });
    this.byPort.set(s.hostPort, s.name);
  }
  async restart(name: string): Promise<void> {
    Object.assign(this.insts.get(name)!, { running: true, startedAt: this.clock.now() });
  }
  async stop(name: string): Promise<void> {
    const i = this.insts.get(name);
    if (i) i.running = false;
  }
  async remove(name: string): Promise<void> {
    const i = this.insts.get(name);
    if (i && this.byPort.get(i.port) === name) this.byPort.delete(i.port);
    this.insts.delete(name);
  }
  async status(name: string): Promise<InstanceStatus> {
    const i = this.insts.get(name);
    return { exists: Boolean(i), running: i?.running ?? false, exitCode: i && !i.running ? 0 : null, oomKilled: false };
  }
  async logs(name: string): Promise<string> {
    return `(simulated) ${name}`;
  }
  async list(): Promise<string[]> {
    return [...this.insts.keys()];
  }
  async hasImage(image: string): Promise<boolean> {
    return image === "none" || this.artifacts.has(image);
  }

  /** The health endpoint of whatever listens on this port. */
  probe = async (_host: string, port: number): Promise<CheckResult> => {
    const name = this.byPort.get(port);
    const i = name ? this.insts.get(name) : undefined;
    if (!i?.running) return { ok: false, detail: "ECONNREFUSED" };
    return this.clock.now() - i.startedAt >= this.bootMs ? { ok: true, detail: "HTTP 200" } : { ok: false, detail: "HTTP 503" };
  };
}
