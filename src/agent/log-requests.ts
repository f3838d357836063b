// HAProxy's access log, filed per app: HAProxy writes one line a request
// (REQUEST_LOG_FORMAT) into a ring that it forwards over TCP to the agent
// (REQUEST_LOG_ADDR, proxy/log-format.ts); the agent files each line under the
// app whose backend answered, with the instance behind the server slot. A ring
// and not a UDP datagram a request: the agent reads many lines a wake-up (one
// datagram a request woke it once per request: 20 % of a core at 7 000 req/s),
// a HAProxy reload keeps forwarding, and while the agent restarts the ring
// keeps the newest 4 MB for it. Written in batches, a few times a second.
// Each HTTP line's duration also goes into the app's histogram
// (metrics/request-durations.ts), unless the request came over the mesh: the
// machine it entered counts it (and its time includes the hop).
import { createServer, type Server } from "node:net";
import type { RequestDurations } from "../metrics/request-durations.ts";
import { MESH_FRONTEND } from "../proxy/mesh.ts";
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
  /** It came in through the mesh frontend: another machine took it from the client and handed it on. */
  mesh: boolean;
  /** Ta, the request's total active time (ms); -1 for a TCP line, or an HTTP line without it. */
  ms: number;
}

const MESH = Buffer.from(MESH_FRONTEND);

/** Whether b[at, end) is the mesh frontend's name as %ft writes it ("~" after an SSL frontend's name). */
function isMesh(b: Buffer, at: number, end: number): boolean {
  const n = MESH.length;
  return (end === at + n || (end === at + n + 1 && b[at + n] === 126)) /* ~ */ && b.compare(MESH, 0, n, at, at + n) === 0;
}

/** The ISO time of a unix second, remembered: requests come many a second, and toISOString costs. */
let isoSecond = -1;
let isoPrefix = "";

/** One line: an optional syslog header ("<134>Nov 30 06:30:09 haproxy[12]: "), then "<unix s>.<ms> backend
 *  server frontend Ta rest" (TCP lines, and HTTP lines written before the frontend was logged, have neither
 *  frontend nor Ta: no duration, as whether they came over the mesh is unknown). Found with byte searches, no
 *  regex: this runs for every request, in the agent (--jitless). */
export function parseRequestLine(msg: Buffer | string): ParsedRequest | undefined {
  const b = typeof msg === "string" ? Buffer.from(msg) : msg;
  let start = 0;
  if (b[0] === 60 /* < */) {
    const at = b.indexOf("]: ");
    if (at < 0) return undefined;
    start = at + 3;
  }
  let end = b.length;
  if (b[end - 1] === 10) end--;
  const dot = b.indexOf(46 /* . */, start);
  const s1 = b.indexOf(32, start);
  const s2 = s1 < 0 ? -1 : b.indexOf(32, s1 + 1);
  const s3 = s2 < 0 ? -1 : b.indexOf(32, s2 + 1);
  if (dot < 0 || s3 < 0 || dot > s1 || s3 >= end) return undefined;
  const sec = Number(b.toString("latin1", start, dot));
  const ms = b.toString("latin1", dot + 1, s1);
  if (!Number.isInteger(sec) || !/^\d{1,3}$/.test(ms)) return undefined;
  if (sec !== isoSecond) {
    isoSecond = sec;
    isoPrefix = new Date(sec * 1000).toISOString().slice(0, 20);
  }
  // A status (digits) or a TCP line's "-" here: no frontend field, and no Ta before the rest.
  let at = s3 + 1;
  let mesh = false;
  let ta = -1;
  if (b[at] !== 45 && !(b[at]! >= 48 && b[at]! <= 57)) {
    const s4 = b.indexOf(32, at);
    if (s4 < 0 || s4 >= end) return undefined;
    mesh = isMesh(b, at, s4);
    // Ta's digits, read as they come: the next space ends them ("-1" or "+n" are no duration: -1).
    let i = s4 + 1;
    let v = 0;
    while (b[i]! >= 48 && b[i]! <= 57) v = v * 10 + b[i++]! - 48;
    if (b[i] === 32 && i > s4 + 1) ta = v;
    else if ((i = b.indexOf(32, i)) < 0 || i >= end) return undefined;
    at = i + 1;
  }
  return {
    time: `${isoPrefix}${ms.padStart(3, "0")}Z`,
    backend: b.toString("latin1", s1 + 1, s2),
    server: b.toString("latin1", s2 + 1, s3),
    text: b.toString("utf8", at, end),
    mesh,
    ms: ta,
  };
}

type Target = { project: string; app: string; slots: Map<string, { name: string; release: number }> };

export class RequestLog {
  private server?: Server;
  private pending = new Map<string, { project: string; app: string; batches: LogBatch[] }>();
  private timer?: NodeJS.Timeout;
  private readonly cache: StateCache;

  constructor(
    private readonly logs: LogStore,
    store: Store,
    private readonly log: (s: string) => void,
    private readonly durations?: RequestDurations,
  ) {
    this.cache = new StateCache(store);
  }

  /** HAProxy's ring connects here (TCP) and writes lines, many at a time, each ending in a newline. */
  listen(addr: string): void {
    const [host, port] = [addr.slice(0, addr.lastIndexOf(":")), Number(addr.slice(addr.lastIndexOf(":") + 1))];
    const server = createServer((c) => {
      let rest: Buffer | undefined;
      c.on("data", (d: Buffer) => {
        const b = rest ? Buffer.concat([rest, d]) : d;
        let at = 0;
        for (let nl = b.indexOf(10); nl >= 0; nl = b.indexOf(10, at)) {
          this.take(b.subarray(at, nl));
          at = nl + 1;
        }
        rest = at < b.length ? Buffer.from(b.subarray(at)) : undefined;
        if (rest && rest.length > 65536) rest = undefined; // not a line: drop it
      });
      c.on("error", () => {});
    });
    server.on("error", (e) => this.log(`request log: ${e.message} (requests are not filed)`));
    server.listen(port, host);
    this.server = server;
  }

  close(): void {
    clearTimeout(this.timer);
    this.flush();
    this.server?.close();
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

  take(msg: Buffer | string): void {
    const r = parseRequestLine(msg);
    if (!r) return;
    const a = this.lookup(r.backend);
    if (!a) return; // skiff_no_route, and backends of apps this agent no longer knows
    if (!r.mesh && r.ms >= 0) this.durations?.observe(r.backend, a.project, a.app, r.ms);
    let p = this.pending.get(r.backend);
    if (!p) this.pending.set(r.backend, (p = { project: a.project, app: a.app, batches: [] }));
    // Filed within 250 ms of the first line waiting; no timer while no request comes (an idle agent sleeps).
    if (!this.timer) (this.timer = setTimeout(() => ((this.timer = undefined), this.flush()), 250)).unref();
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
