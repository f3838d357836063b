// What the agent's parts do to the world, as small interfaces: the clock, the
// health probe, free-port checks and HAProxy. The agent passes the real ones;
// unit tests pass in-memory ones (a fake clock, a recording proxy) and drive
// activation and the supervisor through their decisions without a machine.
import { portFree } from "../lib/ports.ts";
import type { Runtime, RuntimeKind } from "../runtime/types.ts";
import { healthCheck, type CheckResult } from "./health.ts";
import type { HealthBook } from "./health-book.ts";
import type { KeyedMutex } from "./mutex.ts";
import type { ProxyController } from "./proxy.ts";
import type { Store } from "./store.ts";

export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const realClock: Clock = { now: () => Date.now(), sleep: (ms) => new Promise((r) => setTimeout(r, ms)) };

/** One health check of an instance (see health.ts): HTTP GET of the path, or a TCP connect when there is none. */
export type HealthProbe = (host: string, port: number, path: string | undefined, timeoutMs: number) => Promise<CheckResult>;

/** What the agent asks of its machine's HAProxy: the ProxyController, or an in-memory one in tests. */
export type AgentProxy = Pick<ProxyController, "ensureRunning" | "ensureBackend" | "enable" | "release" | "flush" | "disable" | "drainAndRemove" | "peersActive" | "setPeers" | "placedPeers" | "removeBackend" | "sync" | "slotOf" | "setMeshCert" | "meshProjects" | "setTlsCert" | "removeTlsCert" | "pruneTlsCerts" | "tlsDir">;

export type Log = (s: string) => void;

/** The effects a part may use besides the store, the runtimes and the proxy. */
export interface Effects {
  clock: Clock;
  probe: HealthProbe;
  /** Whether a host port can be bound on an address (instances publish on it). */
  portFree: (port: number, address: string) => Promise<boolean>;
}

export const realEffects: Effects = { clock: realClock, probe: healthCheck, portFree };

/** Everything the agent's parts share: built once by AgentCore. */
export interface Machine {
  store: Store;
  runtimes: Partial<Record<RuntimeKind, Runtime>>;
  proxy: AgentProxy;
  fx: Effects;
  log: Log;
  /** Activation, restarts, removal and warm expiry never touch one app at once. */
  mutex: KeyedMutex;
  health: HealthBook;
}

/** The runtime that runs a release's (or an instance's) instances. */
export function runtimeOf(m: Pick<Machine, "runtimes">, x: { runtime?: RuntimeKind }): Runtime {
  const kind = x.runtime ?? "docker";
  const r = m.runtimes[kind];
  if (!r) throw new Error(`the ${kind} runtime is not available on this machine`);
  return r;
}

/** A clock time as history writes it. */
export const isoAt = (m: Pick<Machine, "fx">): string => new Date(m.fx.clock.now()).toISOString();
