// Pure decisions for the kept log files of one app on one machine: how big a
// segment grows before the next one starts, and which segments go so the app
// stays under its bound. Files are whole segments, so removing the oldest ones
// is the rotation; nothing is rewritten or copied.

export interface Segment {
  kind: string;
  seq: number;
  size: number;
}

/** A tenth of the bound (at least 256 KiB, at most 64 MiB): the oldest tenth goes at a time. */
export const segmentBytes = (bound: number) => Math.min(64 * 1024 * 1024, Math.max(256 * 1024, Math.floor(bound / 10)));

/** "out-00000012.log" → its kind and number. */
export function parseSegmentName(file: string): { kind: string; seq: number } | undefined {
  const m = /^([a-z]+)-(\d{8})\.log$/.exec(file);
  return m ? { kind: m[1]!, seq: Number(m[2]) } : undefined;
}

export const segmentName = (kind: string, seq: number) => `${kind}-${String(seq).padStart(8, "0")}.log`;

/**
 * Segments to delete, oldest first (lowest number: numbers are shared by the app's kinds), until the rest fit
 * the bound. The newest segment of each kind is being written and stays; past that the bound is the limit.
 */
export function segmentsToPrune(segments: Segment[], bound: number): Segment[] {
  const newest = new Map<string, number>();
  for (const s of segments) newest.set(s.kind, Math.max(newest.get(s.kind) ?? -1, s.seq));
  let total = segments.reduce((a, s) => a + s.size, 0);
  const out: Segment[] = [];
  for (const s of [...segments].sort((a, b) => a.seq - b.seq)) {
    if (total <= bound) break;
    if (newest.get(s.kind) === s.seq) continue;
    out.push(s);
    total -= s.size;
  }
  return out;
}
