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

/** The segments of one chain, read line by line from a position; `pos` is past everything read so far. */
class ChainReader {
  pos: [number, number];
  truncated = false;
  private readonly segs: number[];
  private si = 0;
  private buf = "";
  private bufStart = 0;
  private fileOffset = 0;

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
    this.fileOffset = this.pos[1];
    this.bufStart = this.pos[1];
  }

  /** Drops the first `chars` characters of the buffer (whole lines), moving the position past them. */
  private skip(seq: number, chars: number): void {
    if (chars <= 0) return;
    this.bufStart += Buffer.byteLength(this.buf.slice(0, chars));
    this.buf = this.buf.slice(chars);
    this.pos = [seq, this.bufStart];
  }

  /** The next line (filtering is the caller's), or undefined at the end. With `literal`, lines without it are
   *  skipped unread (a native search over the block, as grep does with a pattern's fixed string). */
  next(literal?: string): Item | undefined {
    for (;;) {
      const seq = this.segs[this.si];
      if (seq === undefined) return undefined;
      if (literal) {
        const hit = this.buf.indexOf(literal);
        this.skip(seq, hit < 0 ? this.buf.lastIndexOf("\n") + 1 : this.buf.lastIndexOf("\n", hit) + 1);
      }
      const nl = this.buf.indexOf("\n");
      if (nl >= 0) {
        const line = this.buf.slice(0, nl);
        const at: [number, number] = [seq, this.bufStart];
        this.bufStart += Buffer.byteLength(line) + 1;
        this.buf = this.buf.slice(nl + 1);
        this.pos = [seq, this.bufStart];
        return { line, time: line.slice(0, 24), at };
      }
      if (this.budget.left <= 0) {
        this.truncated = true;
        return undefined;
      }
      const chunk = this.read(seq);
      if (chunk.length) {
        this.buf += chunk.toString("utf8");
        continue;
      }
      // The end of this segment: a partial last line (being written) stays for the next read, unless a newer segment follows.
      if (this.si + 1 >= this.segs.length) return undefined;
      this.si++;
      this.buf = "";
      this.bufStart = this.fileOffset = 0;
      this.pos = [this.segs[this.si]!, 0];
    }
  }

  private read(seq: number): Buffer {
    let fd: number;
    try {
      fd = openSync(join(this.dir, segmentName(this.kind, seq)), "r");
    } catch {
      return Buffer.alloc(0);
    }
    try {
      const b = Buffer.alloc(BLOCK);
      const n = readSync(fd, b, 0, BLOCK, this.fileOffset);
      this.fileOffset += n;
      this.budget.left -= n;
      // Decode only whole UTF-8 sequences: stop at the last newline of the block when there is one.
      const cut = n === BLOCK ? b.subarray(0, n).lastIndexOf(10) + 1 : n;
      if (cut > 0 && cut < n) {
        this.fileOffset -= n - cut;
        this.budget.left += n - cut;
        return b.subarray(0, cut);
      }
      return b.subarray(0, n);
    } finally {
      closeSync(fd);
    }
  }
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
  // A pattern that is plain text (no regex syntax): lines without it are skipped by a native search.
  const literal = q.grep !== undefined && /^[^\\^$.|?*+()[\]{}]+$/.test(q.grep) ? q.grep : undefined;
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
