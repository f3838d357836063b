// In-memory effects for the agent's parts: a virtual clock, a runtime whose
// instances a test makes crash, answer health checks or die, a proxy that
// records what it is asked, and a health probe that asks the runtime. Only the
// Store is real (a temp directory; its files are what the agent keeps).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import type { ActivateParams } from "../../src/contracts/activate.ts";
import type { ReleaseSpec } from "../../src/contracts/model.ts";
import { AgentCore } from "../../src/agent/core.ts";
import type { AgentProxy, Clock } from "../../src/agent/effects.ts";
import type { CheckResult } from "../../src/agent/health.ts";
import { Store } from "../../src/agent/store.ts";
import type { Slot } from "../../src/proxy/model.ts";
import type { InstanceStatus, Runtime, StartSpec } from "../../src/runtime/types.ts";

/** Virtual time: sleeps resolve when everything else is idle (between macrotasks), the clock jumping to the
 *  earliest one. Parallel sleepers share the same time line; no real time passes. */
export class FakeClock implements Clock {
  t = Date.parse("2026-03-01T12:00:00Z");
  readonly slept: number[] = [];
  private timers: { at: number; resolve: () => void }[] = [];
  private kicked = false;

  now(): number {
    return this.t;
  }

  sleep(ms: number): Promise<void> {
    this.slept.push(ms);
    return new Promise((resolve) => {
      this.timers.push({ at: this.t + ms, resolve });
      this.kick();
    });
  }

  /** Moves time on by hand (between supervisor ticks). */
  advance(ms: number): void {
    this.t += ms;
  }

  private kick(): void {
    if (this.kicked) return;
    this.kicked = true;
    setImmediate(() => {
      this.kicked = false;
      if (!this.timers.length) return;
      this.timers.sort((a, b) => a.at - b.at);
      this.t = Math.max(this.t, this.timers[0]!.at);
      const due = this.timers.filter((x) => x.at <= this.t);
      this.timers = this.timers.filter((x) => x.at > this.t);
      for (const d of due) d.resolve();
      if (this.timers.length) this.kick();
    });
  }
}

/** How a release's instances behave: exit at start, become healthy only after a while, fail every restart. */
export interface Program {
  exitAtStart?: number;
  healthyAfterMs?: number;
  /** Exits again at once after each restart, with this code. */
  exitOnRestart?: number;
  /** Health answers in order (true = 200), then healthy. */
  answers?: boolean[];
}

export interface MemInstance {
  name: string;
  release: number;
  port: number;
  exists: boolean;
  running: boolean;
  exitCode: number | null;
  oomKilled: boolean;
  startedAt: number;
  /** Set by a test: the health endpoint answers 503 while true. */
  failing: boolean;
  program: Program;
  probes: number;
}

export class MemRuntime implements Runtime {
  readonly insts = new Map<string, MemInstance>();
  readonly programs = new Map<number, Program>();
  readonly started: StartSpec[] = [];
  readonly restarted: string[] = [];

  constructor(private readonly clock: FakeClock) {}

  of(release: number): MemInstance[] {
    return [...this.insts.values()].filter((i) => i.release === release);
  }
  /** Set by a test: exits are events (as the process runtime's children, or Docker's event stream), told to the
   *  supervisor when an instance crashes, and a running instance counts as watched. */
  watching = false;
  /** status() calls (the supervisor's looks and probes' checks). */
  looks = 0;
  private onExit?: (name: string) => void;
  watchExits(onExit: (name: string) => void): void {
    this.onExit = onExit;
  }
  exitsWatched(name: string): boolean {
    return this.watching && (this.insts.get(name)?.running ?? false);
  }
  crash(name: string, code: number, oomKilled = false): void {
    Object.assign(this.insts.get(name)!, { running: false, exitCode: code, oomKilled });
    if (this.watching) this.onExit?.(name);
  }

  async start(s: StartSpec): Promise<void> {
    this.started.push(s);
    const release = Number(s.labels["skiff.release"]);
    const program = this.programs.get(release) ?? {};
    const exit = program.exitAtStart;
    this.insts.set(s.name, { name: s.name, release, port: s.hostPort, exists: true, running: exit === undefined, exitCode: exit ?? null, oomKilled: false, startedAt: this.clock.now(), failing: false, program, probes: 0 });
  }
  async restart(name: string): Promise<void> {
    const i = this.insts.get(name)!;
    this.restarted.push(name);
    const exit = i.program.exitOnRestart;
    Object.assign(i, { running: exit === undefined, exitCode: exit ?? null, oomKilled: false, startedAt: this.clock.now() });
  }
  async stop(name: string): Promise<void> {
    const i = this.insts.get(name);
    if (i) i.running = false;
  }
  async remove(name: string): Promise<void> {
    this.insts.delete(name);
  }
  async status(name: string): Promise<InstanceStatus> {
    this.looks++;
    const i = this.insts.get(name);
    return i ? { exists: true, running: i.running, exitCode: i.exitCode, oomKilled: i.oomKilled } : { exists: false, running: false, exitCode: null, oomKilled: false };
  }
  async logs(name: string): Promise<string> {
    return `last lines of ${name}`;
  }
  async list(): Promise<string[]> {
    return [...this.insts.keys()];
  }
  async hasImage(): Promise<boolean> {
    return true;
  }
  /** Set by a test: where the volumes are (backups read them there). */
  volumeRoot = "/nonexistent/volumes";
  async volumePath(project: string, app: string, name: string): Promise<string> {
    return join(this.volumeRoot, project, app, name);
  }

  /** The path of every probe, in order (undefined: a TCP connect). */
  readonly probedPaths: (string | undefined)[] = [];

  /** The health endpoint of whatever listens on this port. */
  probe = async (_host: string, port: number, path?: string): Promise<CheckResult> => {
    this.probedPaths.push(path);
    const i = [...this.insts.values()].find((x) => x.port === port && x.running);
    if (!i) return { ok: false, detail: "ECONNREFUSED" };
    const n = i.probes++;
    const scripted = i.program.answers?.[n];
    const ok = !i.failing && (scripted ?? this.clock.now() - i.startedAt >= (i.program.healthyAfterMs ?? 0));
    return ok ? { ok: true, detail: "HTTP 200" } : { ok: false, detail: "HTTP 503" };
  };
}

/** HAProxy as a record of slots: which instance is in a primary or backup slot, in what state. */
export class MemProxy implements AgentProxy {
  readonly slots = new Map<string, Slot & { backup: boolean }>();
  readonly calls: string[] = [];
  private n = 0;

  private key = (name: string, backup: boolean) => `${name}${backup ? "#backup" : ""}`;
  /** Instances in a primary slot, ready. */
  serving(): string[] {
    return [...this.slots.values()].filter((s) => !s.backup && s.state === "ready").map((s) => s.instance!);
  }
  backups(): string[] {
    return [...this.slots.values()].filter((s) => s.backup).map((s) => s.instance!);
  }

  async ensureRunning(): Promise<void> {}
  async ensureBackend(): Promise<void> {}
  async enable(_b: string, name: string, addr: string, port: number, opts: { backup?: boolean } = {}): Promise<string> {
    const backup = Boolean(opts.backup);
    const slot = this.slots.get(this.key(name, backup)) ?? { name: `${backup ? "b" : "s"}${++this.n}`, addr, port, state: "ready", instance: name, backup };
    slot.state = "ready";
    this.slots.set(this.key(name, backup), slot);
    this.calls.push(`enable ${name}${backup ? " backup" : ""}`);
    return slot.name;
  }
  async release(_b: string, name: string, which: "primary" | "backup" | "all" = "all"): Promise<void> {
    if (which !== "backup") this.slots.delete(this.key(name, false));
    if (which !== "primary") this.slots.delete(this.key(name, true));
  }
  async flush(): Promise<void> {}
  async disable(_b: string, name: string): Promise<void> {
    const s = this.slots.get(this.key(name, false));
    if (s) s.state = "maint";
    this.calls.push(`disable ${name}`);
  }
  async drainAndRemove(_b: string, name: string): Promise<{ waitedMs: number; leftSessions: number }> {
    this.calls.push(`drain ${name}`);
    this.slots.delete(this.key(name, false));
    return { waitedMs: 0, leftSessions: 0 };
  }
  async peersActive(): Promise<void> {}
  /** Peers as the last setPeers placed them, per backend (what placedPeers answers, as the real one does). */
  readonly peers = new Map<string, { name: string; addr: string; port: number }[]>();
  async setPeers(backend: string, peers: { name: string; addr: string; port: number }[]): Promise<void> {
    this.peers.set(backend, structuredClone(peers));
  }
  placedPeers(backend: string): { name: string; addr: string; port: number }[] {
    return structuredClone(this.peers.get(backend) ?? []);
  }
  async removeBackend(): Promise<void> {}
  meshProjects(): string[] {
    return [];
  }
  async setMeshCert(): Promise<"reload" | "live"> {
    return "reload";
  }
  async setTlsCert(id: string, hosts: string[]): Promise<{ applied: "live" | "disk"; cert: { id: string; hosts: string[]; notAfter: string; serial: string } }> {
    return { applied: "disk", cert: { id, hosts, notAfter: new Date(0).toISOString(), serial: "0" } };
  }
  async removeTlsCert(): Promise<boolean> {
    return false;
  }
  async pruneTlsCerts(): Promise<string[]> {
    return [];
  }
  tlsDir(): string {
    return "/nonexistent/tls";
  }
  async sync(): Promise<void> {}
  slotOf(_b: string, name: string, backup = false): Slot | undefined {
    return this.slots.get(this.key(name, backup));
  }
}

export function release(n: number, over: Partial<ReleaseSpec> = {}): ReleaseSpec {
  return {
    project: "shop", app: "web", release: n, runtime: "docker", image: `img:${n}`, imageId: `sha256:${String(n).padStart(64, "0")}`, port: 3000, instances: 1, env: {},
    health: { path: "/healthz", intervalMs: 500, timeoutMs: 200, healthyThreshold: 1, deadlineMs: 3000 },
    routes: [{ path: "/" }], drainMs: 10, stopTimeoutS: 1, keepReleases: 5, probationMs: 60_000, createdBy: "test", createdAt: "2026-01-01T00:00:00Z", ...over,
  };
}

export interface MemAgent {
  core: AgentCore;
  store: Store;
  clock: FakeClock;
  runtime: MemRuntime;
  proxy: MemProxy;
  log: string[];
  /** Stores release n and activates it (as a deploy unless `over` says otherwise). */
  deploy(n: number, over?: Partial<ActivateParams>, spec?: Partial<ReleaseSpec>): ReturnType<AgentCore["activate"]>;
}

const root = mkdtempSync(join(tmpdir(), "skiff-agent-parts-"));
after(() => rmSync(root, { recursive: true, force: true }));
let made = 0;

export function memAgent(): MemAgent {
  const clock = new FakeClock();
  const runtime = new MemRuntime(clock);
  const proxy = new MemProxy();
  const store = new Store(join(root, String(made++)));
  const log: string[] = [];
  const core = new AgentCore(store, { docker: runtime }, proxy, (s) => log.push(s), { clock, probe: runtime.probe, portFree: async () => true });
  core.rememberMachineName("m1");
  const deploy = (n: number, over: Partial<ActivateParams> = {}, spec: Partial<ReleaseSpec> = {}) => {
    if (!store.release("shop", "web", n)) store.putRelease(release(n, spec));
    return core.activate({ project: "shop", app: "web", release: n, machine: "m1", action: "deploy", ...over });
  };
  return { core, store, clock, runtime, proxy, log, deploy };
}

/** The app's history records, oldest first, as "action result: reason". */
export const historyOf = (a: MemAgent) => a.store.history({ project: "shop", app: "web" }).map((e) => `${e.action} ${e.release} ${e.result}${e.reason ? `: ${e.reason}` : ""}`);
