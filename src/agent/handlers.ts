// What the agent answers. Request → response, no I/O of its own beyond reading
// the machine's facts, so tests can call it in-process.
import { createHash } from "node:crypto";
import { readFileSync, statfsSync } from "node:fs";
import { arch, freemem, hostname, totalmem, uptime } from "node:os";
import { STATE_DIR } from "./paths.ts";

declare const __AGENT_VERSION__: string;
export const AGENT_VERSION = typeof __AGENT_VERSION__ === "string" ? __AGENT_VERSION__ : "dev";

export interface AgentInfo {
  version: string;
  /** sha256 of the running agent file: setup restarts an agent whose file changed. */
  sha256: string;
  node: string;
  pid: number;
  startedAt: string;
}

export function agentInfo(file: string, startedAt: Date): AgentInfo {
  let sha256 = "unknown";
  try {
    sha256 = createHash("sha256").update(readFileSync(file)).digest("hex");
  } catch {}
  return { version: AGENT_VERSION, sha256, node: process.version, pid: process.pid, startedAt: startedAt.toISOString() };
}

export type Handler = (params: unknown) => unknown | Promise<unknown>;

export function handlers(info: AgentInfo): Record<string, Handler> {
  return {
    ping: () => "pong",
    version: () => info,
    state: () => {
      let disk: { freeBytes: number; totalBytes: number } | undefined;
      try {
        const s = statfsSync(STATE_DIR);
        disk = { freeBytes: s.bavail * s.bsize, totalBytes: s.blocks * s.bsize };
      } catch {}
      return {
        agent: info,
        machine: { hostname: hostname(), arch: arch(), uptimeS: Math.round(uptime()), memory: { totalBytes: totalmem(), freeBytes: freemem() }, disk },
        // Releases and instances arrive with the deploy work; the shape is fixed now.
        apps: {},
      };
    },
  };
}
