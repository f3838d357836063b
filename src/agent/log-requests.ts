// HAProxy's access log, filed per app: HAProxy writes one line a request
// (REQUEST_LOG_FORMAT) into a ring that it forwards over TCP to the agent
// (REQUEST_LOG_ADDR, proxy/log-format.ts); the agent files each line under the
// app whose backend answered, with the instance behind the server slot. A ring
// and not a UDP datagram a request: the agent reads many lines a wake-up (one
// datagram a request woke it once per request: 20 % of a core at 7 000 req/s),
// a HAProxy reload keeps forwarding, and while the agent restarts the ring
// keeps the newest 4 MB for it.
// The agent runs without a JIT, so what a line costs is counted in steps: a
// connection's reads are taken every GAP_MS (not read in between, so the kernel
// gathers many lines a read instead of a wake-up per line), decoded once a
// chunk, scanned in place (log-request-scan.ts), labelled and joined into one
// block per app as they are scanned, and written once a round per app.
// Each HTTP line's duration also goes into the app's histogram
// (metrics/request-durations.ts), unless the request came over the mesh: the
// machine it entered counts it (and its time includes the hop).
import { createServer, type Server, type Socket } from "node:net";
import { bucketOf, type Counts, type RequestDurations } from "../metrics/request-durations.ts";
import { backendName } from "../proxy/model.ts";
import { LineScan, scanLine } from "./log-request-scan.ts";
import type { LogStore } from "./log-store.ts";
import { StateCache } from "./state-cache.ts";
import type { Store } from "./store.ts";

export { parseRequestLine, type ParsedRequest } from "./log-request-scan.ts";

/** A connection's lines are read and filed this long after the first of them arrives (at most this late)… */
const GAP_MS = 100;
/** …unless the last round read this much (Node reads up to 64 KiB at a time): a backlog, read on at once. */
const BACKLOG_BYTES = 32 * 1024;
/** A line longer than this without a newline is not a request line: dropped. */
const LONG_LINE = 64 * 1024;

interface Target {
  project: string;
  app: string;
  slots: Map<string, { name: string; release: number }>;
  /** Server slot → the labels its lines get ("\treq\t<release>\t<instance>\t"), made once per state. */
  labels: Map<string, string>;
}

/** One app's lines of one round: labelled and joined as they are scanned, written once at the round's end. */
interface Filing {
  target: Target;
  backend: string;
  text: string;
  /** The newest time in the app's chain (unix ms and as written): a line accepted earlier gets this one. */
  lastKey: number;
  lastTime: string;
  /** The app's histogram, fetched at its first countable line of the round. */
  counts?: Counts;
  /** The server of the line before, and its labels. */
  server: string;
  labels: string;
}

export class RequestLog {
  private server?: Server;
  private readonly cache: StateCache;
  private readonly scan = new LineScan();
  /** Each open connection's "file what you have now" (close() runs them). */
  private readonly rounds = new Set<() => void>();

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
    const server = createServer({ highWaterMark: 1 }, (c) => this.connection(c));
    server.on("error", (e) => this.log(`request log: ${e.message} (requests are not filed)`));
    server.listen(port, host);
    this.server = server;
  }

  /** One ring's connection (a reload makes a new one), read in rounds: what came since the last round is taken out
   *  of the socket all at once (read() until it has nothing), then filed. The socket's high-water mark is one byte, so
   *  Node stops reading from the kernel as soon as it holds anything: until the round, HAProxy's writes gather in the
   *  kernel's buffer instead of waking the agent one by one. */
  private connection(c: Socket): void {
    /** The start of a line not yet ended, from the round before. */
    let rest = "";
    let timer: NodeJS.Timeout | undefined;
    /** The last round read a full read's worth: more is waiting in the socket, read it at once. */
    let backlog = false;
    const round = () => {
      clearTimeout(timer);
      timer = undefined;
      let s = rest;
      let size = 0;
      for (let d: Buffer | null; (d = c.read() as Buffer | null) !== null; size += d.length) s += d.toString("latin1");
      backlog = size >= BACKLOG_BYTES;
      let at = s.length;
      try {
        at = this.fileLines(s);
      } catch (e) {
        this.log(`request log: ${(e as Error).message}`);
      }
      rest = s.length - at > LONG_LINE ? "" : s.slice(at);
    };
    this.rounds.add(round);
    // Once a round has read all there was, the next data that comes is announced here, once.
    c.on("readable", () => {
      if (timer) return;
      timer = setTimeout(round, backlog ? 0 : GAP_MS);
      timer.unref();
    });
    c.on("end", round);
    c.on("close", () => {
      this.rounds.delete(round);
      clearTimeout(timer);
    });
    c.on("error", () => {});
  }

  /** Where it listens (tests and benches listen on port 0). */
  address(): { address: string; port: number } | undefined {
    const a = this.server?.address();
    return a && typeof a === "object" ? a : undefined;
  }

  close(): void {
    for (const round of this.rounds) round();
    this.server?.close();
  }

  private memo = new Map<string, Target | undefined>();
  private memoOf?: readonly unknown[];

  /** backend → the app, and its slots → instance and release (worked out again only after the state changed). */
  private lookup(backend: string): Target | undefined {
    if (this.memo.has(backend)) return this.memo.get(backend);
    let found: Target | undefined;
    for (const { project, app, state } of this.cache.apps()) {
      if (backendName(project, app) !== backend) continue;
      const slots = new Map<string, { name: string; release: number }>();
      for (const i of [...state.warm, ...state.instances]) if (i.slot) slots.set(i.slot, { name: i.name, release: i.release });
      found = { project, app, slots, labels: new Map() };
    }
    this.memo.set(backend, found);
    return found;
  }

  private labels(t: Target, server: string): string {
    let l = t.labels.get(server);
    if (l === undefined) {
      const inst = t.slots.get(server);
      t.labels.set(server, (l = `\treq\t${inst?.release ?? "-"}\t${inst?.name ?? (server === "<NOSRV>" ? "-" : server)}\t`));
    }
    return l;
  }

  /** One line (with or without its newline), filed at once. */
  take(line: string): void {
    this.fileLines(line.endsWith("\n") ? line : `${line}\n`);
  }

  /** Files every whole line of `s` (latin1, one character a byte: written back byte for byte), one write per app;
   *  returns where the unfinished last line starts. */
  fileLines(s: string): number {
    const apps = this.cache.apps();
    if (apps !== this.memoOf) {
      this.memo.clear();
      this.memoOf = apps;
    }
    const f = this.scan;
    const round = new Map<string, Filing | undefined>();
    // The backend of the line before ("\n": none; no field holds one) and its filing (none: not an app of ours).
    let name = "\n";
    let p: Filing | undefined;
    let at = 0;
    for (let nl = s.indexOf("\n"); nl >= 0; at = nl + 1, nl = s.indexOf("\n", at)) {
      if (!scanLine(s, at, nl, f)) continue;
      if (f.s2 - f.s1 - 1 !== name.length || !s.startsWith(name, f.s1 + 1)) {
        name = s.slice(f.s1 + 1, f.s2);
        p = round.has(name) ? round.get(name) : this.filing(round, name);
      }
      if (!p) continue; // skiff_no_route, and backends of apps this agent no longer knows
      if (f.s3 - f.s2 - 1 !== p.server.length || !s.startsWith(p.server, f.s2 + 1)) {
        p.server = s.slice(f.s2 + 1, f.s3);
        p.labels = this.labels(p.target, p.server);
      }
      if (f.ms >= 0 && !f.mesh && this.durations) {
        const c = (p.counts ??= this.durations.counts(p.backend, p.target.project, p.target.app));
        c.buckets[bucketOf(f.ms)]!++;
        c.sumMs += f.ms;
      }
      // Times in the file never go backwards: HAProxy logs a request when it ends, stamped when it was accepted.
      if (f.key > p.lastKey) {
        p.lastKey = f.key;
        p.lastTime = f.time();
      }
      p.text += p.lastTime + p.labels + s.slice(f.text, nl + 1);
    }
    for (const q of round.values()) {
      if (!q?.text) continue;
      try {
        this.logs.writeLines(q.target.project, q.target.app, "req", q.text, q.lastTime);
      } catch (e) {
        this.log(`request log: ${(e as Error).message}`);
      }
    }
    return at;
  }

  private filing(round: Map<string, Filing | undefined>, backend: string): Filing | undefined {
    const target = this.lookup(backend);
    let p: Filing | undefined;
    if (target) {
      const last = this.logs.lastTime(target.project, target.app, "req");
      const key = last ? Date.parse(last) : Number.NaN;
      p = { target, backend, text: "", lastKey: Number.isNaN(key) ? -Infinity : key, lastTime: last, server: "\n", labels: "" };
    }
    round.set(backend, p);
    return p;
  }
}
