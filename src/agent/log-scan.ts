// Reading the kept logs for `logs.read`: the chains (app × kind) a query names,
// each read in time order from a cursor (or from the start, or near the end
// for a tail), filtered here on the machine (time, release, regex on the
// text), merged by time. Only matching lines leave the machine. An answer is
// a page: at most `limit` lines, or what `budget` bytes of reading found, with
// the cursor to go on from.
import { closeSync, openSync, readdirSync, readSync } from "node:fs";
import { join } from "node:path";
import { AGENT_LOG_KEY, recordText, type LogCursor, type LogPage, type LogQuery } from "../contracts/logs.ts";
import { segmentName } from "./log-bound.ts";
import { listSegments } from "./log-store.ts";

const BLOCK = 1024 * 1024;
const DEFAULT_LIMIT = 20_000;

interface Item {
  line: string;
  time: string;
  /** Where this line starts: the cursor when it is pulled but not taken. */
  at: [number, number];
}

/** The segments of one chain, read line by line from a position; `pos` is past everything read so far. Works on
 *  bytes: a line becomes a string only when it is returned (decoding every block costs ten times the search). */
class ChainReader {
  pos: [number, number];
  truncated = false;
  private readonly segs: number[];
  private si = 0;
  private buf: Buffer = Buffer.alloc(0);
  /** The byte offset in the segment of buf[0]. */
  private bufStart = 0;

  constructor(
    readonly key: string,
    private readonly dir: string,
    private readonly kind: string,
    readonly app: string,
    segs: number[],
    start: [number, number],
    private readonly budget: { left: number },
  ) {
    this.segs = segs.filter((s) => s >= start[0]);
    this.pos = start;
    if (this.segs[0] !== start[0]) this.pos = [this.segs[0] ?? start[0], 0];
    this.bufStart = this.pos[1];
  }

  /** Drops the first `n` bytes of the buffer (whole lines), moving the position past them. */
  private skip(seq: number, n: number): void {
    if (n <= 0) return;
    this.bufStart += n;
    this.buf = this.buf.subarray(n);
    this.pos = [seq, this.bufStart];
  }

  /** The next line (filtering is the caller's), or undefined at the end. With `literal`, lines without it are
   *  skipped unread (a native search over the block, as grep does with a pattern's fixed string). */
  next(literal?: Buffer): Item | undefined {
    for (;;) {
      const seq = this.segs[this.si];
      if (seq === undefined) return undefined;
      if (literal) {
        const hit = this.buf.indexOf(literal);
        this.skip(seq, hit < 0 ? this.buf.lastIndexOf(10) + 1 : this.buf.lastIndexOf(10, hit) + 1);
      }
      const nl = this.buf.indexOf(10);
      if (nl >= 0) {
        const line = this.buf.toString("utf8", 0, nl);
        const at: [number, number] = [seq, this.bufStart];
        this.skip(seq, nl + 1);
        return { line, time: line.slice(0, 24), at };
      }
      if (this.budget.left <= 0) {
        this.truncated = true;
        return undefined;
      }
      // Read on from the start of the partial line left (no copy), or after it when it is longer than a block.
      const long = this.buf.length >= BLOCK;
      const chunk = this.read(seq, long ? this.bufStart + this.buf.length : this.bufStart, long);
      if (long ? chunk.length > 0 : chunk.length > this.buf.length) {
        this.buf = long ? Buffer.concat([this.buf, chunk]) : chunk;
        continue;
      }
      // The end of this segment: a partial last line (being written) stays for the next read, unless a newer segment follows.
      if (this.si + 1 >= this.segs.length) return undefined;
      this.si++;
      this.buf = Buffer.alloc(0);
      this.bufStart = 0;
      this.pos = [this.segs[this.si]!, 0];
    }
  }

  private block?: Buffer;

  private read(seq: number, from: number, fresh: boolean): Buffer {
    let fd: number;
    try {
      fd = openSync(join(this.dir, segmentName(this.kind, seq)), "r");
    } catch {
      return Buffer.alloc(0);
    }
    try {
      // One block per reader, read into again (a new 1 MiB buffer per read cost more than the search): lines left
      // the old one as strings, and what is kept of it (a partial line) is read again from the file. A line longer
      // than a block is kept whole, so it gets a new one.
      const b = fresh ? Buffer.allocUnsafe(BLOCK) : (this.block ??= Buffer.allocUnsafeSlow(BLOCK));
      const n = readSync(fd, b, 0, BLOCK, from);
      this.budget.left -= n;
      return b.subarray(0, n);
    } finally {
      closeSync(fd);
    }
  }
}

/**
 * The longest plain text every match of a regex must contain, or undefined: the runs of ordinary characters
 * outside groups and classes, when nothing at the top level is an alternative (a|b). A character followed by a
 * quantifier (?, *, +, {) is not required. Shorter than 3 characters: not worth a search.
 */
export function requiredText(src: string): string | undefined {
  let depth = 0;
  let run = "";
  let best = "";
  const end = () => {
    if (run.length > best.length) best = run;
    run = "";
  };
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    if (c === "\\") {
      // An escape: a class (\d, \w…) or a literal we do not try to read; either way the run ends.
      end();
      i++;
      continue;
    }
    if (c === "[") {
      end();
      // Skip the class (its own escapes and a ] first in it).
      let j = i + 1;
      if (src[j] === "^") j++;
      if (src[j] === "]") j++;
      for (; j < src.length && src[j] !== "]"; j++) if (src[j] === "\\") j++;
      i = j;
      continue;
    }
    if (c === "(") {
      end();
      depth++;
      continue;
    }
    if (c === ")") {
      depth--;
      continue;
    }
    if (depth > 0) continue;
    if (c === "|") return undefined;
    if ("?*+{".includes(c)) {
      run = run.slice(0, -1);
      end();
      if (c === "{") while (i < src.length && src[i] !== "}") i++;
      continue;
    }
    if (".^$".includes(c)) {
      end();
      continue;
    }
    run += c;
  }
  end();
  return best.length >= 3 ? best : undefined;
}

function appsOf(root: string, project: string): string[] {
  try {
    return readdirSync(join(root, project)).sort();
  } catch {
    return [];
  }
}

/** The segment to start a tail from: the newest ones holding at least n lines. */
function tailStart(dir: string, kind: string, segs: number[], n: number): [number, number] {
  let lines = 0;
  for (let i = segs.length - 1; i >= 0; i--) {
    let fd: number | undefined;
    try {
      fd = openSync(join(dir, segmentName(kind, segs[i]!)), "r");
      const b = Buffer.alloc(BLOCK);
      let off = 0;
      for (let got = readSync(fd, b, 0, BLOCK, 0); got > 0; got = readSync(fd, b, 0, BLOCK, off)) {
        off += got;
        for (let at = b.indexOf(10); at >= 0 && at < got; at = b.indexOf(10, at + 1)) lines++;
      }
    } catch {
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
    if (lines >= n) return [segs[i]!, 0];
  }
  return [segs[0] ?? 0, 0];
}

/** One page of a query's lines from this machine's kept logs (root: the logs directory). */
export function scanLogs(root: string, q: LogQuery, budgetBytes = Number.MAX_SAFE_INTEGER): LogPage {
  const budget = { left: budgetBytes };
  const chains: ChainReader[] = [];
  const sinceMs = q.since ? Date.parse(q.since) : 0;
  const targets: { project: string; app: string; kind: string; label: string }[] = [];
  if (q.kinds.includes("agent")) targets.push({ ...AGENT_LOG_KEY, kind: "agent", label: "agent" });
  for (const app of q.app ? [q.app] : appsOf(root, q.project)) for (const kind of q.kinds.filter((k) => k !== "agent")) targets.push({ project: q.project, app, kind, label: app });
  const filtering = q.grep !== undefined || q.release !== undefined || q.since !== undefined;
  for (const t of targets) {
    const dir = join(root, t.project, t.app);
    const key = `${t.project}/${t.app}/${t.kind}`;
    const all = listSegments(dir).filter((s) => s.kind === t.kind);
    const segs = all.map((s) => s.seq).sort((a, b) => a - b);
    const end: [number, number] = segs.length ? [segs.at(-1)!, all.find((s) => s.seq === segs.at(-1))!.size] : [0, 0];
    let start: [number, number];
    if (q.endOnly) start = end;
    else if (q.after) start = q.after[key] ?? [0, 0];
    else if (q.since) start = [all.filter((s) => s.mtimeMs >= sinceMs).map((s) => s.seq).sort((a, b) => a - b)[0] ?? end[0], 0];
    else if (q.tail !== undefined && !filtering) start = tailStart(dir, t.kind, segs, q.tail);
    else start = [segs[0] ?? 0, 0];
    chains.push(new ChainReader(key, dir, t.kind, t.label, segs, start, budget));
  }
  const re = q.grep === undefined ? undefined : new RegExp(q.grep);
  const rel = q.release === undefined ? undefined : String(q.release);
  // Raw kept lines: time, kind, release, instance, text (contracts/logs.ts).
  const match = (it: Item): boolean => {
    if (q.since && it.time < q.since) return false;
    if (rel !== undefined) {
      const a = it.line.indexOf("\t", 25);
      if (it.line.slice(a + 1, it.line.indexOf("\t", a + 1)) !== rel) return false;
    }
    return re ? re.test(recordText(it.line)) : true;
  };
  // Text every match must contain (the pattern itself when it is plain text): lines without it are skipped by a native search.
  const fixed = q.grep === undefined ? undefined : requiredText(q.grep);
  const literal = fixed ? Buffer.from(fixed) : undefined;
  const pull = (c: ChainReader): Item | undefined => {
    for (let it = c.next(literal); it; it = c.next(literal)) {
      if (q.until && it.time > q.until) return undefined;
      if (match(it)) return it;
    }
    return undefined;
  };
  const heads = chains.map((c) => (q.endOnly ? undefined : pull(c)));
  const limit = q.tail !== undefined ? Number.MAX_SAFE_INTEGER : (q.limit ?? DEFAULT_LIMIT);
  let lines: string[] = [];
  let ring = 0;
  let taken = 0;
  for (;;) {
    let best = -1;
    for (let i = 0; i < heads.length; i++) if (heads[i] && (best < 0 || heads[i]!.time < heads[best]!.time)) best = i;
    if (best < 0 || taken >= limit) break;
    const line = `${chains[best]!.app}\t${heads[best]!.line}`;
    if (q.tail !== undefined) {
      // The last `tail` lines: a ring, put in order at the end.
      if (q.tail === 0) {
      } else if (lines.length < q.tail) lines.push(line);
      else {
        lines[ring] = line;
        ring = (ring + 1) % q.tail;
      }
    } else lines.push(line);
    taken++;
    heads[best] = pull(chains[best]!);
  }
  if (ring) lines = [...lines.slice(ring), ...lines.slice(0, ring)];
  const cursor: LogCursor = {};
  chains.forEach((c, i) => (cursor[c.key] = heads[i] ? heads[i]!.at : c.pos));
  return { lines, cursor, more: heads.some(Boolean) || chains.some((c) => c.truncated), scannedBytes: budgetBytes - budget.left };
}
