// A machine for unit tests, in-process: the real agent (AgentCore, Store in a temp
// dir, the RPC handler table) behind a channel that speaks JSON like the ssh one.
// Instances are real HTTP servers on loopback; HAProxy is a recorder, whose
// faults (a Runtime API that answers nothing) a test can switch on.
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { AgentCore, type ActivateParams } from "../../src/agent/core.ts";
import { agentInfo, handlers, type Handler } from "../../src/agent/handlers.ts";
import { Jobs } from "../../src/agent/jobs.ts";
import type { ReleaseSpec } from "../../src/contracts/model.ts";
import type { ProxyController } from "../../src/agent/proxy.ts";
import { Store } from "../../src/agent/store.ts";
import { refusal as refuse, type AgentClient } from "../../src/transport/agent-client.ts";
import type { InstanceStatus, Runtime, StartSpec } from "../../src/runtime/types.ts";

export class HttpRuntime implements Runtime {
  servers = new Map<string, Server | null>();
  started: StartSpec[] = [];
  async start(s: StartSpec): Promise<void> {
    this.started.push(s);
    const srv = createServer((_, res) => res.end("ok"));
    await new Promise<void>((r) => srv.listen(s.hostPort, s.bindAddress, r));
    this.servers.set(s.name, srv);
  }
  async restart(): Promise<void> {}
  async stop(name: string): Promise<void> {
    const s = this.servers.get(name);
    if (s) await new Promise((r) => s.close(r));
    if (this.servers.has(name)) this.servers.set(name, null);
  }
  async remove(name: string): Promise<void> {
    await this.stop(name);
    this.servers.delete(name);
  }
  async status(name: string): Promise<InstanceStatus> {
    return { exists: this.servers.has(name), running: Boolean(this.servers.get(name)), exitCode: null, oomKilled: false };
  }
  async logs(): Promise<string> {
    return "";
  }
  async list(): Promise<string[]> {
    return [...this.servers.keys()];
  }
  async hasImage(): Promise<boolean> {
    return true;
  }
  async closeAll(): Promise<void> {
    for (const n of [...this.servers.keys()]) await this.remove(n);
  }
}

/** Records what the agent asks of HAProxy; `faults.drain` makes the next drain throw as an empty Runtime API answer did. */
export function recordingProxy(faults: { drain?: boolean } = {}) {
  const enabled = new Set<string>();
  let n = 0;
  const proxy = {
    enabled,
    faults,
    async ensureRunning() {},
    async ensureBackend() {},
    async enable(_b: string, name: string) {
      enabled.add(name);
      return `s${++n}`;
    },
    async release(_b: string, name: string) {
      enabled.delete(name);
    },
    async disable(_b: string, name: string) {
      enabled.delete(name);
    },
    async drainAndRemove(_b: string, name: string) {
      if (faults.drain) {
        faults.drain = false;
        throw new TypeError("Cannot read properties of undefined (reading 'split')");
      }
      enabled.delete(name);
      return { waitedMs: 0, leftSessions: 0 };
    },
    async peersActive() {},
    async flush() {},
    /** Peers as the last setPeers placed them, per backend (what placedPeers answers, as the real one does). */
    peers: new Map<string, { name: string; addr: string; port: number }[]>(),
    async setPeers(b: string, peers: { name: string; addr: string; port: number }[]) {
      proxy.peers.set(b, structuredClone(peers));
    },
    placedPeers: (b: string) => structuredClone(proxy.peers.get(b) ?? []),
    async removeBackend() {},
    async sync() {},
    slotOf: (_b: string, name: string) => (enabled.has(name) ? { state: "ready" } : undefined),
  };
  return proxy;
}

export interface FakeMachine {
  name: string;
  dir: string;
  store: Store;
  core: AgentCore;
  runtime: HttpRuntime;
  proxy: ReturnType<typeof recordingProxy>;
  table: Record<string, Handler>;
  client: AgentClient;
  /** Makes one method fail with this errno code (a fault the test cannot cause for real, e.g. a full disk). */
  failWith: Map<string, string>;
}

export function fakeMachine(name: string, root = mkdtempSync(join(tmpdir(), "skiff-fake-"))): FakeMachine {
  const dir = join(root, name);
  const store = new Store(dir);
  const runtime = new HttpRuntime();
  const proxy = recordingProxy();
  const core = new AgentCore(store, { docker: runtime }, proxy as unknown as ProxyController);
  const table = handlers(agentInfo(import.meta.filename ?? "", new Date()), core, new Jobs());
  const failWith = new Map<string, string>();
  // Requests reach the agent in the order they were sent, as on the ssh channel (a job's first wait goes right
  // behind its start: runJob), each after a little latency; their answers may come back in any order.
  let line: Promise<unknown> = Promise.resolve();
  const client = {
    machine: name,
    transport: { machine: { name, privateAddress: "127.0.0.1" } },
    // Like the ssh channel: JSON both ways, a little latency, an agent error becomes a refusal.
    call: async (method: string, params?: unknown) => {
      const wire = params === undefined ? undefined : JSON.parse(JSON.stringify(params));
      const delivered = line.then(() => new Promise((r) => setTimeout(r, Math.random() * 4)));
      line = delivered;
      await delivered;
      try {
        const code = failWith.get(method);
        if (code) throw Object.assign(new Error(`${code}: injected, ${method}`), { code });
        const h = table[method];
        if (!h) throw new Error(`unknown method ${method}`);
        return JSON.parse(JSON.stringify((await h(wire)) ?? null));
      } catch (e) {
        throw refuse(name, method, { message: (e as Error).message, code: (e as NodeJS.ErrnoException).code });
      }
    },
    close() {},
  } as unknown as AgentClient;
  return { name, dir, store, core, runtime, proxy, table, client, failWith };
}

export function spec(project: string, app: string, release: number, over: Partial<ReleaseSpec> = {}): ReleaseSpec {
  return {
    project, app, release, runtime: "docker", image: `img:${release}`, imageId: `sha256:${String(release).padStart(64, "0")}`, port: 3000, instances: 1, env: {},
    health: { path: "/healthz", intervalMs: 20, timeoutMs: 500, healthyThreshold: 1, deadlineMs: 3000 },
    routes: [{ path: "/" }], drainMs: 10, stopTimeoutS: 1, keepReleases: 5, probationMs: 1000, createdBy: "test", createdAt: "2026-01-01T00:00:00Z", ...over,
  };
}

/** Machines made in one temp dir, their instances closed and the dir removed after the test file. */
export function fleet(prefix: string): (name: string) => FakeMachine {
  const root = mkdtempSync(join(tmpdir(), prefix));
  const made: FakeMachine[] = [];
  after(async () => {
    for (const m of made) await m.runtime.closeAll();
    rmSync(root, { recursive: true, force: true });
  });
  return (name) => {
    const m = fakeMachine(name, join(root, String(made.length)));
    made.push(m);
    return m;
  };
}

/** Activates release N of shop/web on the machine, as a deploy. */
export const activateOn = (m: FakeMachine, release: number, over: Partial<ActivateParams> = {}) =>
  m.core.activate({ project: "shop", app: "web", release, machine: m.name, action: "deploy", bindAddress: "127.0.0.1", ...over });
