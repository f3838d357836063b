// The kept log files of every app on this machine (see contracts/logs.ts for
// the layout and the line format). Appends only; a chain (app and kind) moves
// to a new segment at segmentBytes, and the oldest segments of the app go when
// it passes its bound (log-bound.ts). Times in a chain never go backwards (a
// line collected late is stamped no earlier than the one before it), so a
// reader merges chains by time alone.
import { appendFileSync, closeSync, fstatSync, mkdirSync, openSync, readdirSync, readSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import type { LogKind } from "../contracts/logs.ts";
import { parseSegmentName, segmentBytes, segmentName, segmentsToPrune } from "./log-bound.ts";

/** Lines printed together: one time, release and instance. No line may hold a newline. */
export interface LogBatch {
  time: string;
  release: number | null;
  instance: string | null;
  lines: string[];
}

interface Chain {
  seq: number;
  size: number;
  lastTime: string;
}

export class LogStore {
  private readonly chains = new Map<string, Chain>();
  private readonly nextSeq = new Map<string, number>();

  constructor(
    readonly root: string,
    /** The app's bound in bytes (from its active release, or the default). */
    private readonly boundOf: (project: string, app: string) => number,
  ) {}

  dir(project: string, app: string): string {
    return join(this.root, project, app);
  }

  /** Files lines of one kind for one app, in the order given (in time order for their source). A batch's lines
   *  share a time, a release and an instance, so they are joined without a step per line. */
  write(project: string, app: string, kind: LogKind, batches: LogBatch[]): void {
    const chain = this.chain(this.dir(project, app), kind);
    let text = "";
    for (const b of batches) {
      if (!b.lines.length) continue;
      const head = this.head(chain, kind, b);
      text += head + b.lines.join(`\n${head}`) + "\n";
    }
    if (text) this.append(project, app, kind, chain, Buffer.from(text));
  }

  /** Files a block of whole lines (each ending in a newline) read as latin1, one character a byte: written back byte
   *  for byte, so the app's bytes are kept as printed without decoding them. */
  writeBlock(project: string, app: string, kind: LogKind, b: Omit<LogBatch, "lines">, block: string): void {
    if (!block) return;
    const chain = this.chain(this.dir(project, app), kind);
    const head = this.head(chain, kind, b);
    this.append(project, app, kind, chain, Buffer.from(head + block.slice(0, -1).replaceAll("\n", `\n${head}`) + "\n", "latin1"));
  }

  /** The time of the newest line of an app's chain of this kind ("" if none): lines filed after it must not be
   *  earlier (writeLines' caller clamps them). */
  lastTime(project: string, app: string, kind: LogKind): string {
    return this.chain(this.dir(project, app), kind).lastTime;
  }

  /** Files whole lines already labelled (each ending in a newline; latin1, one character a byte), none earlier than
   *  lastTime() and `newest` the time of the last: the request log labels them as it parses, a chunk at a time. */
  writeLines(project: string, app: string, kind: LogKind, block: string, newest: string): void {
    if (!block) return;
    const chain = this.chain(this.dir(project, app), kind);
    if (newest > chain.lastTime) chain.lastTime = newest;
    this.append(project, app, kind, chain, Buffer.from(block, "latin1"));
  }

  /** The labels of a batch's lines; its time clamped to never go before the chain's last line. */
  private head(chain: Chain, kind: LogKind, b: Omit<LogBatch, "lines">): string {
    const time = b.time < chain.lastTime ? chain.lastTime : b.time;
    chain.lastTime = time;
    return `${time}\t${kind}\t${b.release ?? "-"}\t${b.instance ?? "-"}\t`;
  }

  private append(project: string, app: string, kind: LogKind, chain: Chain, buf: Buffer): void {
    const dir = this.dir(project, app);
    const limit = segmentBytes(this.boundOf(project, app));
    // Cut at line ends so no segment passes its size (a line longer than a segment fills one alone).
    for (let at = 0; at < buf.length; ) {
      if (chain.size >= limit) {
        this.prune(project, app);
        chain.seq = this.take(dir);
        chain.size = 0;
      }
      let cut = buf.lastIndexOf(10, Math.min(buf.length, at + limit - chain.size) - 1);
      if (cut < at) cut = chain.size > 0 ? at - 1 : buf.indexOf(10, at);
      if (cut < at) {
        chain.size = limit; // the next segment takes the line
        continue;
      }
      appendFileSync(join(dir, segmentName(kind, chain.seq)), buf.subarray(at, cut + 1), { mode: 0o640 });
      chain.size += cut + 1 - at;
      at = cut + 1;
    }
  }

  /** Removes the oldest segments of an app so that, with a full new segment of each kind to come, it stays within its bound. */
  prune(project: string, app: string): void {
    const dir = this.dir(project, app);
    const segs = listSegments(dir);
    const bound = this.boundOf(project, app);
    const room = bound - segmentBytes(bound) * new Set(segs.map((s) => s.kind)).size;
    for (const s of segmentsToPrune(segs, room)) rmSync(join(dir, segmentName(s.kind, s.seq)), { force: true });
  }

  /** Bytes an app's logs take here. */
  size(project: string, app: string): number {
    return listSegments(this.dir(project, app)).reduce((a, s) => a + s.size, 0);
  }

  private take(dir: string): number {
    const seq = this.nextSeq.get(dir) ?? Math.max(0, ...listSegments(dir).map((s) => s.seq)) + 1;
    this.nextSeq.set(dir, seq + 1);
    return seq;
  }

  private chain(dir: string, kind: string): Chain {
    const key = `${dir}\0${kind}`;
    let c = this.chains.get(key);
    if (c) return c;
    mkdirSync(dir, { recursive: true, mode: 0o750 });
    const newest = listSegments(dir)
      .filter((s) => s.kind === kind)
      .sort((a, b) => b.seq - a.seq)[0];
    c = newest ? { seq: newest.seq, size: newest.size, lastTime: lastTime(join(dir, segmentName(kind, newest.seq))) } : { seq: this.take(dir), size: 0, lastTime: "" };
    this.chains.set(key, c);
    return c;
  }
}

export function listSegments(dir: string): { kind: string; seq: number; size: number; mtimeMs: number }[] {
  let files: string[] = [];
  try {
    files = readdirSync(dir);
  } catch {
    return [];
  }
  const out: { kind: string; seq: number; size: number; mtimeMs: number }[] = [];
  for (const f of files) {
    const p = parseSegmentName(f);
    if (!p) continue;
    try {
      const st = statSync(join(dir, f));
      out.push({ ...p, size: st.size, mtimeMs: st.mtimeMs });
    } catch {}
  }
  return out;
}

/** The time of a file's last line (its last 4 KiB read), for a chain picked up after a restart. */
function lastTime(file: string): string {
  let fd: number | undefined;
  try {
    fd = openSync(file, "r");
    const size = fstatSync(fd).size;
    const buf = Buffer.alloc(Math.min(4096, size));
    readSync(fd, buf, 0, buf.length, size - buf.length);
    const lines = buf.toString("utf8").split("\n").filter((l) => /^\d{4}-\d\d-\d\dT[\d:.]{12}Z\t/.test(l));
    return lines.at(-1)?.slice(0, 24) ?? "";
  } catch {
    return "";
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
