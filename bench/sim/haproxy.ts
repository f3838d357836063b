// HAProxy for a simulated machine: the agent's real ProxyController (slots, state file, config file) over an
// in-memory Runtime API (a server made ready is UP at once) and an in-memory process (start and reload succeed).
import type { HaproxyControl } from "../../src/agent/haproxy-process.ts";
import { ProxyController } from "../../src/agent/proxy.ts";
import type { SlotApi } from "../../src/agent/proxy-peers.ts";
import type { SkipClock } from "./clock.ts";

export function simProxy(dir: string, clock: SkipClock): { ctl: ProxyController; reloads: () => number } {
  const servers = new Map<string, { state: string; addr: string; port: number }>();
  const proc = { running: false, reloads: 0 };
  const api: SlotApi = {
    info: async () => "",
    setState: async (b, s, state) => {
      servers.set(`${b}/${s}`, { ...(servers.get(`${b}/${s}`) ?? { addr: "127.0.0.1", port: 1 }), state });
    },
    setAddr: async (b, s, addr, port) => {
      servers.set(`${b}/${s}`, { ...(servers.get(`${b}/${s}`) ?? { state: "maint" }), addr, port });
    },
    serverStates: async (b) => new Map([...servers].filter(([k]) => k.startsWith(`${b}/`)).map(([k, v]) => [k.split("/")[1]!, { op: v.state === "ready" ? 2 : 0, admin: 0, addr: v.addr, port: v.port }])),
    sessions: async () => new Map(),
    healthUp: async () => {},
  };
  const haproxy: HaproxyControl = {
    running: () => proc.running,
    reachable: () => proc.running,
    startOrReload: async () => {
      proc.running = true;
      proc.reloads++;
    },
    check: async () => {},
    softStop: () => void (proc.running = false),
  };
  const ctl = new ProxyController({ dir, statsSocket: `${dir}/s`, pidFile: `${dir}/p` }, 80, () => {}, { api, haproxy, sleep: (ms) => clock.sleep(ms) });
  return { ctl, reloads: () => proc.reloads };
}
