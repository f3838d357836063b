// What the agent answers: request → response. The core does the work; this
// file only maps method names onto it, so tests can call it in-process.
import { createHash } from "node:crypto";
import { readFileSync, statfsSync } from "node:fs";
import { arch, cpus, freemem, hostname, totalmem, uptime } from "node:os";
import type { ActivateParams, AgentCore } from "./core.ts";
import type { Jobs } from "./jobs.ts";
import type { AgentInfo } from "../contracts/agent-info.ts";

export type { AgentInfo };
import type { LockInfo, ReleaseSpec } from "../contracts/model.ts";
import type { RuntimeKind } from "../contracts/model.ts";

declare const __AGENT_VERSION__: string;
export const AGENT_VERSION = typeof __AGENT_VERSION__ === "string" ? __AGENT_VERSION__ : "dev";


export function agentInfo(file: string, startedAt: Date): AgentInfo {
  let sha256 = "unknown";
  try {
    sha256 = createHash("sha256").update(readFileSync(file)).digest("hex");
  } catch {}
  return { version: AGENT_VERSION, sha256, node: process.version, pid: process.pid, startedAt: startedAt.toISOString() };
}

/** A string parameter, checked at the boundary (the lock's paths are built from them). */
function text(v: unknown, name: string): string {
  if (typeof v !== "string" || !v) throw new Error(`${name} must be a non-empty string`);
  return v;
}

/** The lock holder a mutating call names: absent, or a non-empty string (never silently ignored). */
function optionalText(v: unknown, name: string): string | undefined {
  return v === undefined || v === null ? undefined : text(v, name);
}

function checkLockInfo(i: unknown): LockInfo {
  const x = i as LockInfo;
  if (typeof x !== "object" || x === null) throw new Error("info must be an object");
  for (const k of ["holder", "host", "command", "since"] as const) text(x[k], `info.${k}`);
  return { holder: x.holder, host: x.host, pid: Number(x.pid) || 0, command: x.command, since: x.since, heartbeat: x.heartbeat };
}

export type Handler = (params: unknown) => unknown | Promise<unknown>;

function machineFacts(stateDir: string) {
  let disk: { freeBytes: number; totalBytes: number } | undefined;
  try {
    const s = statfsSync(stateDir);
    disk = { freeBytes: s.bavail * s.bsize, totalBytes: s.blocks * s.bsize };
  } catch {}
  return { hostname: hostname(), arch: arch(), cpus: cpus().length, uptimeS: Math.round(uptime()), memory: { totalBytes: totalmem(), freeBytes: freemem() }, disk };
}

export function handlers(info: AgentInfo, core?: AgentCore, jobs?: Jobs): Record<string, Handler> {
  const base: Record<string, Handler> = {
    ping: () => "pong",
    version: () => info,
    state: async () => ({ agent: info, machine: machineFacts(core?.store.dir ?? "/"), apps: core ? await core.view() : [], damaged: core?.store.damageReport() ?? [] }),
  };
  if (!core || !jobs) return base;
  const p = <T>(x: unknown) => x as T;
  return {
    ...base,
    "image.has": async (x) => {
      const { image, runtime } = p<{ image: string; runtime?: RuntimeKind }>(x);
      return core.rt({ runtime }).hasImage(image);
    },
    "image.id": async (x) => (await core.rt({}).imageId?.(p<{ image: string }>(x).image)) ?? null,
    "release.put": (x) => (core.store.putRelease(p<{ spec: ReleaseSpec }>(x).spec), true),
    "release.list": (x) => {
      const { project, app } = p<{ project: string; app: string }>(x);
      return { releases: core.store.releases(project, app), active: core.store.state(project, app).active };
    },
    "release.get": (x) => {
      const { project, app, release } = p<{ project: string; app: string; release: number }>(x);
      return core.store.release(project, app, release) ?? null;
    },
    activate: (x) => {
      const params = p<ActivateParams>(x);
      optionalText(params.holder, "holder");
      core.rememberMachineName(params.machine);
      return { job: jobs.start(() => core.activate(params)) };
    },
    "hook.run": (x) => {
      const params = p<Parameters<AgentCore["runHook"]>[0]>(x);
      optionalText(params.holder, "holder");
      core.rememberMachineName(params.machine);
      return { job: jobs.start(() => core.runHook(params)) };
    },
    capacity: () => ({
      // What placement needs, from the saved state only (no runtime calls, unlike `state`).
      cpus: cpus().length,
      memoryBytes: totalmem(),
      apps: core.store.apps().map(({ project, app }) => {
        const st = core.store.state(project, app);
        return { project, app, active: st.active, limits: st.active !== null ? core.store.release(project, app, st.active)?.limits : undefined, instances: st.instances.length };
      }),
    }),
    "instances.list": (x) => {
      // From the saved state only (no runtime calls): cheap enough to ask after every rollout batch.
      const { project, app } = p<{ project: string; app: string }>(x);
      const st = core.store.state(project, app);
      return { active: st.active, instances: st.instances.map((i) => ({ name: i.name, bindAddress: i.bindAddress, hostPort: i.hostPort })) };
    },
    "peers.set": (x) => {
      const { project, app, peers } = p<{ project: string; app: string; peers: { name: string; addr: string; port: number }[] }>(x);
      return core.setPeers(project, app, peers).then(() => true);
    },
    "job.wait": (x) => {
      const { job, timeoutMs } = p<{ job: string; timeoutMs?: number }>(x);
      return jobs.wait(job, Math.min(timeoutMs ?? 20_000, 60_000));
    },
    "app.remove": (x) => {
      const { project, app, holder, onlyIfActive } = p<{ project: string; app: string; holder?: string; onlyIfActive?: number }>(x);
      return core.removeApp(project, app, { holder: optionalText(holder, "holder"), onlyIfActive: typeof onlyIfActive === "number" ? onlyIfActive : undefined });
    },
    history: (x) => {
      const f = p<{ project?: string; app?: string; report?: boolean }>(x ?? {});
      // `report: true` also returns the damaged lines (skipped); plain callers get the records only.
      return f.report ? core.store.historyReport(f) : core.store.history(f);
    },
    "lock.acquire": (x) => {
      const { project, info } = p<{ project: string; info: LockInfo }>(x);
      return core.store.acquireLock(text(project, "project"), checkLockInfo(info));
    },
    "lock.heartbeat": (x) => {
      const { project, holder } = p<{ project: string; holder: string }>(x);
      return core.store.heartbeat(text(project, "project"), text(holder, "holder"));
    },
    "lock.release": (x) => {
      const { project, holder, force, staleAfterMs } = p<{ project: string; holder?: string; force?: boolean; staleAfterMs?: number }>(x);
      return core.store.releaseLock(text(project, "project"), { holder, force: force === true, staleAfterMs: typeof staleAfterMs === "number" ? staleAfterMs : undefined });
    },
    "lock.info": (x) => core.store.lockInfo(text(p<{ project: string }>(x ?? {}).project, "project")) ?? null,
  };
}
