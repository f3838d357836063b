// HAProxy's access log, filed per app: HAProxy sends one UDP datagram a
// request to the agent (REQUEST_LOG_ADDR; the format is REQUEST_LOG_FORMAT in
// proxy/config.ts), the agent files it under the app whose backend answered,
// with the instance behind the server slot. UDP because it survives both
// sides restarting: a HAProxy reload keeps sending to the same address, and an
// agent restart loses only the requests of the seconds it is down (HAProxy
// never blocks or queues on it). Written in batches, a few times a second.
import { createSocket, type Socket } from "node:dgram";
import { backendName } from "../proxy/model.ts";
import type { LogBatch, LogStore } from "./log-store.ts";
import { StateCache } from "./state-cache.ts";
import type { Store } from "./store.ts";

export interface ParsedRequest {
  time: string;
  backend: string;
  server: string;
  /** status bytes TR/Tw/Tc/Tr/Ta client "METHOD path HTTP/x" (TCP: - bytes Tw/Tc/Tt client tcp). */
  text: string;
}

/** One datagram: an optional syslog header ("<134>Nov 30 06:30:09 haproxy[12]: "), then "<unix s>.<ms> backend server rest". */
export function parseRequestLine(msg: string): ParsedRequest | undefined {
  let s = msg.endsWith("\n") ? msg.slice(0, -1) : msg;
  if (s.startsWith("<")) {
    const at = s.indexOf("]: ");
    if (at < 0) return undefined;
    s = s.slice(at + 3);
  }
  const m = /^(\d+)\.(\d{1,3}) (\S+) (\S+) (.*)$/.exec(s);
  if (!m) return undefined;
  const ms = Number(m[1]) * 1000 + Number(m[2]!.padStart(3, "0"));
  if (!Number.isFinite(ms)) return undefined;
  return { time: new Date(ms).toISOString(), backend: m[3]!, server: m[4]!, text: m[5]! };
}

type Target = { project: string; app: string; slots: Map<string, { name: string; release: number }> };

export class RequestLog {
  private socket?: Socket;
  private pending = new Map<string, { project: string; app: string; batches: LogBatch[] }>();
  private timer?: NodeJS.Timeout;
  private readonly cache: StateCache;

  constructor(
    private readonly logs: LogStore,
    store: Store,
    private readonly log: (s: string) => void,
  ) {
    this.cache = new StateCache(store);
  }

  listen(addr: string): void {
    const [host, port] = [addr.slice(0, addr.lastIndexOf(":")), Number(addr.slice(addr.lastIndexOf(":") + 1))];
    const socket = createSocket("udp4");
    socket.on("error", (e) => {
      this.log(`request log: ${e.message} (requests are not filed)`);
      socket.close();
    });
    socket.on("message", (b) => this.take(b.toString("utf8")));
    socket.bind(port, host);
    this.socket = socket;
    this.timer = setInterval(() => this.flush(), 250);
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
    this.flush();
    this.socket?.close();
  }

  private memo = new Map<string, Target | undefined>();
  private memoOf?: readonly unknown[];

  /** backend → the app, and its slots → instance and release (worked out again only after the state changed). */
  private lookup(backend: string): Target | undefined {
    const apps = this.cache.apps();
    if (apps !== this.memoOf) {
      this.memo.clear();
      this.memoOf = apps;
    }
    if (this.memo.has(backend)) return this.memo.get(backend);
    let found: Target | undefined;
    for (const { project, app, state } of apps) {
      if (backendName(project, app) !== backend) continue;
      const slots = new Map<string, { name: string; release: number }>();
      for (const i of [...state.warm, ...state.instances]) if (i.slot) slots.set(i.slot, { name: i.name, release: i.release });
      found = { project, app, slots };
    }
    this.memo.set(backend, found);
    return found;
  }

  take(msg: string): void {
    const r = parseRequestLine(msg);
    if (!r) return;
    const a = this.lookup(r.backend);
    if (!a) return; // skiff_no_route, and backends of apps this agent no longer knows
    let p = this.pending.get(r.backend);
    if (!p) this.pending.set(r.backend, (p = { project: a.project, app: a.app, batches: [] }));
    const inst = a.slots.get(r.server);
    const last = p.batches.at(-1);
    const instance = inst?.name ?? (r.server === "<NOSRV>" ? null : r.server);
    if (last && last.time === r.time && last.instance === instance) last.lines.push(r.text);
    else p.batches.push({ time: r.time, release: inst?.release ?? null, instance, lines: [r.text] });
  }

  flush(): void {
    const all = this.pending;
    this.pending = new Map();
    for (const p of all.values()) {
      try {
        this.logs.write(p.project, p.app, "req", p.batches);
      } catch (e) {
        this.log(`request log: ${(e as Error).message}`);
      }
    }
  }
}
