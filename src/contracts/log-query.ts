// The `logs.read` query and its answer (the RPC contract's schemas; logs.ts has the rest of what CLI and agent
// agree on for logs, without zod).
import * as z from "zod/mini";
import { LOG_KINDS } from "./logs.ts";

const opt = z.optional;
const iso = z.string().check(z.regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/));
const name = z.string().check(z.regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$/));

/** Where a reader stopped in each file chain ("project/app/kind" → [segment, byte offset after the last line read]). */
export const logCursor = z.record(z.string(), z.tuple([z.int(), z.int()]));
export type LogCursor = z.infer<typeof logCursor>;

export const logQuery = z.object({
  project: name,
  /** One app, or every app of the project on this machine. */
  app: opt(name),
  kinds: z.array(z.enum(LOG_KINDS)).check(z.minLength(1)),
  since: opt(iso),
  until: opt(iso),
  /** A JavaScript regular expression, matched against each line's text. */
  grep: opt(z.string().check(z.maxLength(4096))),
  release: opt(z.int()),
  /** Only the last N matching lines (over everything this machine reads for the query). */
  tail: opt(z.int().check(z.minimum(0))),
  /** Continue after this cursor (following, or the next page); without it, from the start (or the tail). */
  after: opt(logCursor),
  /** Ask for the cursor at the current end without reading anything (a follow starting with no history). */
  endOnly: opt(z.boolean()),
  /** At most this many lines in one answer; `more` says there are others after `cursor`. */
  limit: opt(z.int().check(z.minimum(1), z.maximum(100_000))),
});
export type LogQuery = z.infer<typeof logQuery>;

/** One answer: lines as kept (app first: "app\tline"), oldest first. */
export const logPage = z.object({
  lines: z.array(z.string()),
  cursor: logCursor,
  more: z.boolean(),
  /** Bytes this machine read to answer (what grep looked through). */
  scannedBytes: z.number(),
});
export type LogPage = z.infer<typeof logPage>;
