// One HAProxy request line (proxy/log-format.ts), found in a chunk of many: the
// agent receives the lines as one latin1 string a chunk (one decode a chunk,
// not a Buffer slice and five decodes a line) and scans each in place with
// string searches into one reused LineScan (no object, no string a line),
// as this runs for every request in an agent without a JIT (--jitless), where
// every step a line is paid in full. The caller slices only what it keeps.
import { MESH_FRONTEND } from "../proxy/mesh.ts";

/** Where one line's fields are in the chunk, and what was read from them: one object, filled again for every line. */
export class LineScan {
  /** Accept time, unix ms. */
  key = 0;
  /** The backend is chunk[s1 + 1, s2), the server chunk[s2 + 1, s3). */
  s1 = 0;
  s2 = 0;
  s3 = 0;
  /** What the request log keeps starts here (status, bytes, timers, client, request line) and ends at the line's end. */
  text = 0;
  /** It came in through the mesh frontend: another machine took it from the client and handed it on. */
  mesh = false;
  /** Ta, the request's total active time (ms); -1 for a TCP line, or an HTTP line without it. */
  ms = -1;
  /** The accept second's ISO prefix ("2026-11-30T06:00:09.") and the ms digits ("042"), set by scanLine. */
  prefix = "";
  ms3 = "";
  private made = "";
  private madeKey = -1;

  /** The accept time as the log file writes it ("2026-11-30T06:00:09.042Z"), made once per distinct ms. */
  time(): string {
    if (this.madeKey !== this.key) {
      this.madeKey = this.key;
      this.made = `${this.prefix}${this.ms3}Z`;
    }
    return this.made;
  }
}

/** "000"…"999": a line's milliseconds as the time writes them, without a padStart a line. */
const MS3 = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, "0"));
/** Later than any accept time HAProxy writes (year 5138), and short of where toISOString throws. */
const MAX_SECOND = 1e11;

/** The second last seen ("1796018409") and its ISO prefix ("2026-11-30T06:00:09."): lines come many a second. */
let secText = "";
let secPrefix = "";
let secMs = 0;

/**
 * Scans the line s[at, end) (end: its newline, or the string's end) into `f`; false when it is not a request line.
 * The line: an optional syslog header ("<134>Nov 30 06:30:09 haproxy[12]: ", from a ring in rfc3164 format), then
 * "<unix s>.<ms> backend server frontend Ta rest". TCP lines, and HTTP lines written before the frontend was logged,
 * have neither frontend nor Ta: no duration, as whether they came over the mesh is unknown.
 */
export function scanLine(s: string, at: number, end: number, f: LineScan): boolean {
  if (s.charCodeAt(at) === 60 /* < */) {
    const h = s.indexOf("]: ", at);
    if (h < 0 || h >= end) return false;
    at = h + 3;
  }
  const s1 = s.indexOf(" ", at);
  if (s1 < 0 || s1 >= end) return false;
  const dot = s.indexOf(".", at);
  if (dot <= at || dot >= s1 - 1 || s1 - dot > 4) return false;
  let ms = 0;
  for (let i = dot + 1; i < s1; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return false;
    ms = ms * 10 + c;
  }
  if (dot - at !== secText.length || !s.startsWith(secText, at)) {
    const t = s.slice(at, dot);
    const sec = Number(t);
    if (!Number.isInteger(sec) || sec < 0 || sec > MAX_SECOND) return false;
    secText = t;
    secMs = sec * 1000;
    secPrefix = new Date(secMs).toISOString().slice(0, 20);
  }
  const s2 = s.indexOf(" ", s1 + 1);
  if (s2 < 0 || s2 >= end) return false;
  const s3 = s.indexOf(" ", s2 + 1);
  if (s3 < 0 || s3 >= end) return false;
  // A status (digits) or a TCP line's "-" here: no frontend field, and no Ta before the rest.
  let text = s3 + 1;
  let mesh = false;
  let ta = -1;
  const c = s.charCodeAt(text);
  if (c !== 45 /* - */ && !(c >= 48 && c <= 57)) {
    const s4 = s.indexOf(" ", text);
    if (s4 < 0 || s4 >= end) return false;
    // The mesh frontend's name as %ft writes it ("~" after an SSL frontend's name).
    const n = s4 - text;
    mesh = (n === MESH_FRONTEND.length || (n === MESH_FRONTEND.length + 1 && s.charCodeAt(s4 - 1) === 126)) /* ~ */ && s.startsWith(MESH_FRONTEND, text);
    // Ta's digits, read as they come: the next space ends them ("-1" or "+n" are no duration: -1).
    let i = s4 + 1;
    let v = 0;
    for (let d = s.charCodeAt(i) - 48; d >= 0 && d <= 9; d = s.charCodeAt(++i) - 48) v = v * 10 + d;
    if (s.charCodeAt(i) === 32 && i > s4 + 1) ta = v;
    else if ((i = s.indexOf(" ", i)) < 0 || i >= end) return false;
    text = i + 1;
  }
  f.key = secMs + ms;
  f.prefix = secPrefix;
  f.ms3 = MS3[ms]!;
  f.s1 = s1;
  f.s2 = s2;
  f.s3 = s3;
  f.text = text;
  f.mesh = mesh;
  f.ms = ta;
  return true;
}

export interface ParsedRequest {
  time: string;
  backend: string;
  server: string;
  /** status bytes TR/Tw/Tc/Tr/Ta client "METHOD path HTTP/x" (TCP: - bytes Tw/Tc/Tt client tcp). */
  text: string;
  mesh: boolean;
  ms: number;
}

/** One line on its own (with or without its newline): scanLine's reading as an object (tests, benches). */
export function parseRequestLine(s: string): ParsedRequest | undefined {
  const end = s.endsWith("\n") ? s.length - 1 : s.length;
  const f = new LineScan();
  if (!scanLine(s, 0, end, f)) return undefined;
  return { time: f.time(), backend: s.slice(f.s1 + 1, f.s2), server: s.slice(f.s2 + 1, f.s3), text: s.slice(f.text, end), mesh: f.mesh, ms: f.ms };
}
