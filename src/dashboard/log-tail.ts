// The live log tail of an app for every page that shows it: one `skiff logs
// --follow` (the API's readLogs, every 2 s) per app, kept while a page reads
// it, its last lines numbered so each page asks only for what it has not seen.
import type { LogLine, LogsOptions } from "../api/logs.ts";

export interface TailApi {
  logs(opts: LogsOptions): AsyncGenerator<LogLine>;
}

export interface TailLine extends LogLine {
  seq: number;
}

interface Tail {
  lines: TailLine[];
  next: number;
  lastRead: number;
  stop: AbortController;
  problem?: string;
  /** When its reading failed: a page asking 10 s later starts it afresh. */
  failedAt?: number;
}

export class LogTails {
  private readonly tails = new Map<string, Tail>();
  private readonly now: () => number;

  constructor(
    private readonly api: TailApi,
    private readonly opts: { keep: number; idleMs: number; intervalMs: number; now?: () => number },
  ) {
    this.now = opts.now ?? Date.now;
  }

  /** The app's lines after `after` (a seq; -1 for all kept), and the seq to ask after next. */
  read(app: string, after: number): { lines: TailLine[]; next: number; problem?: string } {
    this.sweep();
    let t = this.tails.get(app);
    if (!t || (t.failedAt !== undefined && this.now() - t.failedAt > 10_000)) this.tails.set(app, (t = this.follow(app)));
    t.lastRead = this.now();
    return { lines: t.lines.filter((l) => l.seq > after), next: t.next - 1, ...(t.problem ? { problem: t.problem } : {}) };
  }

  /** Tails no page read for `idleMs` stop following. */
  private sweep(): void {
    for (const [app, t] of this.tails) {
      if (this.now() - t.lastRead < this.opts.idleMs) continue;
      t.stop.abort();
      this.tails.delete(app);
    }
  }

  private follow(app: string): Tail {
    const t: Tail = { lines: [], next: 0, lastRead: this.now(), stop: new AbortController() };
    const lines = this.api.logs({ app, follow: true, tail: 50, intervalMs: this.opts.intervalMs, signal: t.stop.signal, onUnreachable: (m, e) => (t.problem = `${m}: ${String((e as Error)?.message ?? e).split("\n")[0]}`) });
    void (async () => {
      try {
        for await (const l of lines) {
          t.lines.push({ ...l, seq: t.next++ });
          if (t.lines.length > this.opts.keep) t.lines.shift();
        }
      } catch (e) {
        t.problem = String((e as Error)?.message ?? e).split("\n")[0];
        t.failedAt = this.now();
      }
    })();
    return t;
  }

  stop(): void {
    for (const t of this.tails.values()) t.stop.abort();
    this.tails.clear();
  }
}
