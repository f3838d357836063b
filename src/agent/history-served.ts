// What a rollback needs of this machine's history, without the history: per
// app, the releases that once served (an ok deploy, rollback or scale). The
// file only grows (store.ts appends, a torn last line first gets its newline),
// so it is read from where the last look ended: a rollback after a year of
// deploys reads and sends a few numbers, not every record since.
import { closeSync, openSync, readSync, statSync } from "node:fs";
import { StringDecoder } from "node:string_decoder";
import type { HistoryEntry } from "../contracts/model.ts";

/** An action whose ok result means the release served (what a rollback may go back to). */
export const servedBy = (e: Pick<HistoryEntry, "action" | "result">) => e.result === "ok" && (e.action === "deploy" || e.action === "rollback" || e.action === "scale");

export interface DamagedLine {
  line: number;
  text: string;
}

/** At most this many damaged lines are kept (each is reported as history reports it). */
const MAX_DAMAGED = 1000;
/** The newest this many releases that served are answered: a rollback goes to one a machine keeps (keep_releases,
 *  a handful), never a thousand releases back, and the answer stays a few KB after years of deploys. */
export const MAX_SERVED = 1000;

export class ServedIndex {
  private offset = 0;
  /** The last line when it has no newline yet: a record being written, or a torn one. */
  private rest = "";
  private lines = 0;
  /** A character cut between two reads is joined, not mangled. */
  private decoder = new StringDecoder("utf8");
  private readonly served = new Map<string, Set<number>>();
  private damaged: DamagedLine[] = [];

  constructor(
    private readonly file: string,
    private readonly isEntry: (x: unknown) => x is HistoryEntry,
  ) {}

  /** The app's releases that served (the newest MAX_SERVED), ascending, and the lines that are not records (as
   *  `history` reports them). */
  query(project: string, app: string): { releases: number[]; damaged: DamagedLine[] } {
    this.catchUp();
    const releases = new Set(this.served.get(key(project, app)));
    const damaged = [...this.damaged];
    // A last line without its newline counts as history reads it now; it is not kept (more may follow).
    if (this.rest) {
      const e = this.parse(this.rest);
      if (!e) damaged.push({ line: this.lines + 1, text: this.rest.slice(0, 120) });
      else if (e.project === project && e.app === app && servedBy(e)) releases.add(e.release);
    }
    return { releases: [...releases].sort((a, b) => a - b).slice(-MAX_SERVED), damaged };
  }

  private parse(line: string): HistoryEntry | undefined {
    try {
      const e: unknown = JSON.parse(line);
      return this.isEntry(e) ? e : undefined;
    } catch {
      return undefined;
    }
  }

  private catchUp(): void {
    let size: number;
    try {
      size = statSync(this.file).size;
    } catch {
      return;
    }
    // Shorter than read: replaced (a restored machine): read again from the start.
    if (size < this.offset) {
      Object.assign(this, { offset: 0, rest: "", lines: 0, damaged: [], decoder: new StringDecoder("utf8") });
      this.served.clear();
    }
    if (size === this.offset) return;
    const fd = openSync(this.file, "r");
    try {
      // In pieces: years of history read once must not grow the agent's heap for good.
      const buf = Buffer.alloc(64 << 10);
      while (this.offset < size) {
        const n = readSync(fd, buf, 0, Math.min(buf.length, size - this.offset), this.offset);
        if (n <= 0) break;
        this.offset += n;
        const lines = (this.rest + this.decoder.write(buf.subarray(0, n))).split("\n");
        this.rest = lines.pop() ?? "";
        for (const l of lines) this.take(l);
      }
    } finally {
      closeSync(fd);
    }
  }

  private take(line: string): void {
    this.lines++;
    if (!line) return;
    const e = this.parse(line);
    if (!e) {
      if (this.damaged.length < MAX_DAMAGED) this.damaged.push({ line: this.lines, text: line.slice(0, 120) });
      return;
    }
    if (!servedBy(e)) return;
    const k = key(e.project, e.app);
    const set = this.served.get(k) ?? new Set<number>();
    set.add(e.release);
    this.served.set(k, set);
  }
}

const key = (project: string, app: string) => `${project}/${app}`;
