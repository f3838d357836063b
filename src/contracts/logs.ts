// What CLI and agent agree on for logs: where they live on a machine, the line
// format of the kept files (the `logs.read` query and its answer: log-query.ts,
// apart so that whatever needs these names does not load zod).
//
//   <state>/logs/<project>/<app>/out-<seq>.log   what the app's instances printed (stdout, stderr)
//                                req-<seq>.log   HAProxy's access log for the app's backend
//                                positions.json  how far the agent has copied each instance's output
//   <state>/logs/_agent/agent-<seq>.log          the agent's own log (and its supervisor's)
//
// One line per record, tab-separated, the text last and as printed (so a regex
// runs on it without unescaping): time (ISO, ms, UTC), kind, release, instance,
// text. The app and the machine are where the file is. Each file is written in
// time order, so reading merges files and machines by time alone.
import { STATE_DIR } from "./paths.ts";

export const LOGS_DIR = `${STATE_DIR}/logs`;
/** The agent's own log, next to the apps' (project names cannot start with "_"). */
export const AGENT_LOG_KEY = { project: "_agent", app: "agent" } as const;
/** Where HAProxy forwards its access log (a ring over TCP, many lines a write), for the agent to file per app. */
export const REQUEST_LOG_ADDR = "127.0.0.1:10514";
/** An app's logs on one machine (instances' output and requests together) stay under this unless skiff.yml says. */
export const DEFAULT_LOG_MAX_BYTES = 50 * 1024 * 1024;

export const LOG_KINDS = ["out", "req", "agent"] as const;
export type LogKind = (typeof LOG_KINDS)[number];

export interface LogRecord {
  /** ISO 8601, milliseconds, UTC: sorts as text. */
  time: string;
  kind: LogKind;
  /** The release that printed it (instances), or null (requests, the agent). */
  release: number | null;
  /** The instance that printed it, the HAProxy server slot that answered a request, or null. */
  instance: string | null;
  text: string;
}

/** One line of a kept file (with its newline). A newline inside `text` cannot occur: lines are split on it. */
export function formatRecord(r: LogRecord): string {
  return `${r.time}\t${r.kind}\t${r.release ?? "-"}\t${r.instance ?? "-"}\t${r.text}\n`;
}

/** A kept line back into a record (undefined for a damaged one, e.g. torn by a crash mid-write). */
export function parseRecord(line: string): LogRecord | undefined {
  const a = line.indexOf("\t");
  const b = line.indexOf("\t", a + 1);
  const c = line.indexOf("\t", b + 1);
  const d = line.indexOf("\t", c + 1);
  if (a !== 24 || d < 0) return undefined;
  const kind = line.slice(a + 1, b) as LogKind;
  if (!LOG_KINDS.includes(kind)) return undefined;
  const rel = line.slice(b + 1, c);
  const inst = line.slice(c + 1, d);
  return { time: line.slice(0, a), kind, release: rel === "-" ? null : Number(rel), instance: inst === "-" ? null : inst, text: line.slice(d + 1) };
}

/** The text of a kept line without parsing the rest (what --grep looks at). */
export function recordText(line: string): string {
  let at = -1;
  for (let i = 0; i < 4; i++) {
    at = line.indexOf("\t", at + 1);
    if (at < 0) return "";
  }
  return line.slice(at + 1);
}

export type { LogCursor, LogPage, LogQuery } from "./log-query.ts";
