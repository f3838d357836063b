// The bounded history: a fixed-size file of fixed-size slots, one sample per
// slot, oldest overwritten first. 8640 slots of 8 KiB hold 24 h at 10 s in
// at most 70.8 MB of disk, whatever runs (sparse: a slot is written only as far
// as its values go); memory holds only the series names (a
// bounded table) and nothing of the history. A sample whose values do not fit
// a slot keeps the first ones and counts the rest as dropped.
//
// File: a 64-byte header (magic, slot size, slot count, next slot, slots
// written), then the slots: t (f64, Unix ms), n (u16), n × (series id u16,
// value f64). series.json (next to it) names the ids; written before any slot
// uses a new id. A header that does not match (another size, damage) starts
// the history afresh.
import { closeSync, existsSync, ftruncateSync, mkdirSync, openSync, readFileSync, readSync, renameSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { parseSeriesKey, seriesKey, type Sample, type Series } from "./catalogue.ts";

const MAGIC = "SKFMRNG1";
const HEADER = 64;
const SLOT_HEAD = 10;
const PER_VALUE = 10;

export interface RingOptions {
  /** Slots in the file: history length = slots × the sampling interval. */
  slots: number;
  slotBytes: number;
  /** Series names kept at most; past it the history starts afresh (names of instances long gone are dropped). */
  maxSeries: number;
}

/** 24 h at 10 s. */
export const DEFAULT_RING: RingOptions = { slots: 8640, slotBytes: 8192, maxSeries: 8192 };

export const ringFileBytes = (o: RingOptions) => HEADER + o.slots * o.slotBytes;

export class Ring {
  private fd: number;
  private next = 0;
  private count = 0;
  private ids = new Map<string, number>();
  private keys: string[] = [];
  /** Name → labels as JSON → id: a series seen before is found without building its key (sorted, escaped), which
   *  was most of what an append cost. A series whose labels come in another order is only another entry. */
  private known = new Map<string, Map<string, number>>();
  private knownCount = 0;
  /** One slot's buffer, reused: only its first SLOT_HEAD + n × PER_VALUE bytes are written out. */
  private slot?: Buffer;
  private readonly file: string;
  private readonly seriesFile: string;

  constructor(
    dir: string,
    readonly opts: RingOptions = DEFAULT_RING,
    private readonly log: (s: string) => void = () => {},
  ) {
    if (opts.slotBytes < SLOT_HEAD + PER_VALUE || opts.slots < 1 || opts.maxSeries > 65535) throw new Error("ring: slots too small or too many series for u16 ids");
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.file = join(dir, "ring.bin");
    this.seriesFile = join(dir, "series.json");
    this.fd = openSync(this.file, existsSync(this.file) ? "r+" : "w+", 0o600);
    if (!this.load()) this.reset("new history");
  }

  /** Values a slot holds at most. */
  get capacity(): number {
    return Math.floor((this.opts.slotBytes - SLOT_HEAD) / PER_VALUE);
  }

  get size(): number {
    return this.count;
  }

  private load(): boolean {
    const h = Buffer.alloc(HEADER);
    if (readSync(this.fd, h, 0, HEADER, 0) !== HEADER) return false;
    if (h.toString("latin1", 0, 8) !== MAGIC || h.readUInt32LE(8) !== this.opts.slotBytes || h.readUInt32LE(12) !== this.opts.slots) return false;
    const next = h.readUInt32LE(16);
    const count = h.readUInt32LE(20);
    if (next >= this.opts.slots || count > this.opts.slots) return false;
    try {
      const keys = JSON.parse(readFileSync(this.seriesFile, "utf8")) as unknown;
      if (!Array.isArray(keys) || keys.some((k) => typeof k !== "string") || keys.length > this.opts.maxSeries) return false;
      this.keys = keys as string[];
    } catch {
      return false;
    }
    this.ids = new Map(this.keys.map((k, i) => [k, i]));
    this.forget();
    this.next = next;
    this.count = count;
    return true;
  }

  private reset(why: string): void {
    this.keys = [];
    this.ids = new Map();
    this.forget();
    this.next = 0;
    this.count = 0;
    this.saveSeries();
    // The whole size at once (sparse): the file never grows past it.
    ftruncateSync(this.fd, 0);
    ftruncateSync(this.fd, ringFileBytes(this.opts));
    this.writeHeader();
    this.log(`metrics history: ${why} (${this.opts.slots} slots of ${this.opts.slotBytes} bytes)`);
  }

  private writeHeader(): void {
    const h = Buffer.alloc(HEADER);
    h.write(MAGIC, 0, "latin1");
    h.writeUInt32LE(this.opts.slotBytes, 8);
    h.writeUInt32LE(this.opts.slots, 12);
    h.writeUInt32LE(this.next, 16);
    h.writeUInt32LE(this.count, 20);
    writeSync(this.fd, h, 0, HEADER, 0);
  }

  private saveSeries(): void {
    writeFileSync(`${this.seriesFile}.tmp`, JSON.stringify(this.keys), { mode: 0o600 });
    renameSync(`${this.seriesFile}.tmp`, this.seriesFile);
  }

  private forget(): void {
    this.known = new Map();
    this.knownCount = 0;
  }

  /** The series' id, as `ids` has it under its key (undefined: not kept, the table being full). */
  private idOf(s: Series): number | undefined {
    const labels = JSON.stringify(s.labels);
    let byLabels = this.known.get(s.name);
    const id = byLabels?.get(labels);
    if (id !== undefined) return id;
    const found = this.ids.get(seriesKey(s));
    if (found === undefined) return undefined;
    // Bounded by the ids it maps to (a few orders of labels each); past that, start again.
    if (this.knownCount >= 2 * this.opts.maxSeries) this.forget();
    if (!byLabels) this.known.set(s.name, (byLabels = new Map()));
    byLabels.set(labels, found);
    this.knownCount++;
    return found;
  }

  /** Stores a sample in the next slot; returns how many of its values did not fit. */
  append(sample: Sample): number {
    const ids = sample.series.map((s) => this.idOf(s));
    if (ids.includes(undefined)) {
      // New series (or some that the full table left out): named in series.json before a slot uses their ids.
      const keys = sample.series.map(seriesKey);
      const fresh = keys.filter((k) => !this.ids.has(k));
      if (fresh.length) {
        if (this.keys.length + fresh.length > this.opts.maxSeries) this.reset(`more than ${this.opts.maxSeries} series seen; history started afresh`);
        for (const k of new Set(keys)) {
          if (this.ids.has(k) || this.keys.length >= this.opts.maxSeries) continue;
          this.ids.set(k, this.keys.length);
          this.keys.push(k);
        }
        this.saveSeries();
      }
      for (let i = 0; i < keys.length; i++) ids[i] = this.ids.get(keys[i]!);
    }
    const slot = (this.slot ??= Buffer.alloc(this.opts.slotBytes));
    slot.writeDoubleLE(sample.t, 0);
    let n = 0;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (id === undefined || n >= this.capacity) continue;
      slot.writeUInt16LE(id, SLOT_HEAD + n * PER_VALUE);
      slot.writeDoubleLE(sample.series[i]!.value, SLOT_HEAD + n * PER_VALUE + 2);
      n++;
    }
    slot.writeUInt16LE(n, 8);
    writeSync(this.fd, slot, 0, SLOT_HEAD + n * PER_VALUE, HEADER + this.next * this.opts.slotBytes);
    this.next = (this.next + 1) % this.opts.slots;
    this.count = Math.min(this.count + 1, this.opts.slots);
    this.writeHeader();
    return sample.series.length - n;
  }

  /** The samples from `sinceMs` on (oldest first), each with only the series `want` accepts (by key); with
   *  `stepMs`, only a sample at least that long after the last one kept (a day's chart needs a few hundred
   *  points, not 8640). A slot skipped costs the read of its time alone; one before `sinceMs`, not even that. */
  range(sinceMs = 0, want: (key: string) => boolean = () => true, stepMs = 0): Sample[] {
    const out: Sample[] = [];
    const slot = Buffer.alloc(this.opts.slotBytes);
    const first = (this.next - this.count + this.opts.slots) % this.opts.slots;
    const keep = new Map<number, Pick<Series, "name" | "labels">>();
    this.keys.forEach((k, id) => want(k) && keep.set(id, parseSeriesKey(k)));
    const slotAt = (i: number) => HEADER + ((first + i) % this.opts.slots) * this.opts.slotBytes;
    const timeAt = (i: number) => (readSync(this.fd, slot, 0, SLOT_HEAD, slotAt(i)), slot.readDoubleLE(0));
    // The newest samples are asked for most (a chart's next points): start from the end, back to `sinceMs`.
    let start = this.count;
    while (start > 0 && timeAt(start - 1) >= sinceMs) start--;
    let kept = -Infinity;
    for (let i = start; i < this.count; i++) {
      const at = slotAt(i);
      readSync(this.fd, slot, 0, SLOT_HEAD, at);
      const t = slot.readDoubleLE(0);
      if (t < sinceMs || t < kept + stepMs) continue;
      kept = t;
      const n = Math.min(slot.readUInt16LE(8), this.capacity);
      readSync(this.fd, slot, SLOT_HEAD, n * PER_VALUE, at + SLOT_HEAD);
      const series: Series[] = [];
      for (let j = 0; j < n; j++) {
        const s = keep.get(slot.readUInt16LE(SLOT_HEAD + j * PER_VALUE));
        if (s) series.push({ ...s, value: slot.readDoubleLE(SLOT_HEAD + j * PER_VALUE + 2) });
      }
      out.push({ t, series });
    }
    return out;
  }

  close(): void {
    closeSync(this.fd);
  }
}

export const ringDir = (stateDir: string) => join(stateDir, "metrics");
