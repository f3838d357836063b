// `skiff logs`: what the apps printed (or HAProxy's requests, or the agents'
// own logs), from every machine, merged in time order. Each machine filters
// its own files (agent `logs.read`: time, release, regex) so only matching
// lines cross SSH; this side merges the machines' sorted answers (k-way) and,
// with follow, asks each machine for what came after its cursor once a second.
import type { Project } from "../config/model.ts";
import { suggest } from "../config/suggest.ts";
import { LOG_KINDS, type LogCursor, type LogKind, type LogQuery } from "../contracts/logs.ts";
import { UserError } from "../errors.ts";
import { mergeSortedAsync } from "../lib/merge-sorted.ts";
import { agentClients, type AgentClient } from "../transport/agent-client.ts";

export interface LogsOptions {
  /** One app (default: every app of the project). */
  app?: string;
  /** A duration back from now ("90s", "15m", "1h", "2d") or a time ("2026-11-30T06:00:00Z", "2026-11-30 06:00"). */
  since?: string;
  until?: string;
  /** A JavaScript regular expression matched against each line's text, on the machines. */
  grep?: string;
  /** Only the last N lines (default: 100 when nothing else narrows the query, 10 when following). */
  tail?: number;
  /** Only these machines. */
  machines?: string[];
  release?: number;
  /** HAProxy's access log of the app(s) instead of their output. */
  requests?: boolean;
  /** The agents' own logs instead of the apps' output. */
  agent?: boolean;
  /** Keep reading as lines come (until `signal` aborts). */
  follow?: boolean;
  signal?: AbortSignal;
  /** Following: how often each machine is asked. Default 1000 ms. */
  intervalMs?: number;
  /** A machine that could not be asked (its lines are missing); the others go on. */
  onUnreachable?: (machine: string, error: unknown) => void;
}

export interface LogLine {
  time: string;
  machine: string;
  /** The app ("agent" for an agent's own log). */
  app: string;
  kind: LogKind;
  release: number | null;
  /** The instance that printed it (for a request: the one that answered), or null. */
  instance: string | null;
  text: string;
}

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/;
const UNIT = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;
const TIME_HINT = 'give a duration back from now (90s, 15m, 1h, 2d) or a time (2026-11-30T06:00:00Z, "2026-11-30 06:00" in this computer\'s time zone)';

/** A --since/--until value as an ISO time (ms, UTC). */
export function parseLogTime(value: string, now: Date, flag = "--since"): string {
  const v = value.trim();
  const d = DURATION.exec(v);
  if (d) return new Date(now.getTime() - Number(d[1]) * UNIT[d[2] as keyof typeof UNIT]).toISOString();
  if (v === "now") return now.toISOString();
  // A date alone is midnight here; "YYYY-MM-DD HH:MM[:SS]" is read as ISO.
  const iso = /^\d{4}-\d{2}-\d{2}$/.test(v) ? `${v}T00:00` : v.replace(/^(\d{4}-\d{2}-\d{2}) (\d)/, "$1T$2");
  const ms = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(iso) ? Date.parse(iso) : NaN;
  if (Number.isNaN(ms)) throw new UserError(`${flag} ${JSON.stringify(value)}: not a time`, { hint: TIME_HINT });
  return new Date(ms).toISOString();
}

/** Checks the options against the project and builds each machine's query (no I/O). */
export function planLogs(project: Project, o: LogsOptions, now = new Date()): { query: LogQuery; machines: string[] } {
  const apps = Object.keys(project.apps);
  if (o.app !== undefined && !o.agent && !apps.includes(o.app)) {
    const near = suggest(o.app, apps);
    throw new UserError(`logs: no app "${o.app}" in ${project.file}`, { hint: near ? `did you mean "${near}"?` : apps.length ? `the apps are: ${apps.join(", ")}` : "the project has no apps" });
  }
  const names = Object.keys(project.machines);
  for (const m of o.machines ?? []) {
    if (names.includes(m)) continue;
    const near = suggest(m, names);
    throw new UserError(`logs: no machine "${m}" in ${project.file}`, { hint: near ? `did you mean "${near}"?` : `the machines are: ${names.join(", ")}` });
  }
  if (o.grep !== undefined) {
    try {
      new RegExp(o.grep);
    } catch (e) {
      throw new UserError(`--grep ${JSON.stringify(o.grep)}: ${(e as Error).message.replace(/^Invalid regular expression: /, "")}`, { hint: "it is a JavaScript regular expression: escape special characters with a backslash (\\. for a dot, \\( for a parenthesis)" });
    }
  }
  const since = o.since === undefined ? undefined : parseLogTime(o.since, now, "--since");
  const until = o.until === undefined ? undefined : parseLogTime(o.until, now, "--until");
  if (since && until && since > until) throw new UserError(`--since (${since}) is after --until (${until})`, { hint: "swap them, or leave one out" });
  const kinds: LogKind[] = [...(o.requests ? (["req"] as const) : []), ...(o.agent ? (["agent"] as const) : [])];
  const narrowed = since !== undefined || until !== undefined || o.grep !== undefined;
  const tail = o.tail ?? (o.follow && !narrowed ? 10 : narrowed ? undefined : 100);
  const query: LogQuery = {
    project: project.name,
    ...(o.app !== undefined && !o.agent ? { app: o.app } : {}),
    kinds: kinds.length ? kinds : ["out"],
    ...(since ? { since } : {}),
    ...(until ? { until } : {}),
    ...(o.grep !== undefined ? { grep: o.grep } : {}),
    ...(o.release !== undefined ? { release: o.release } : {}),
    ...(tail !== undefined ? { tail } : {}),
  };
  return { query, machines: o.machines?.length ? o.machines : names };
}

/** "app\ttime\tkind\trelease\tinstance\ttext" from a machine → a line. */
export function parseLogLine(machine: string, raw: string): LogLine | undefined {
  const f: string[] = [];
  let at = 0;
  for (let i = 0; i < 5; i++) {
    const t = raw.indexOf("\t", at);
    if (t < 0) return undefined;
    f.push(raw.slice(at, t));
    at = t + 1;
  }
  const [app, time, kind, release, instance] = f as [string, string, string, string, string];
  if (!(LOG_KINDS as readonly string[]).includes(kind)) return undefined;
  return { time, machine, app, kind: kind as LogKind, release: release === "-" ? null : Number(release), instance: instance === "-" ? null : instance, text: raw.slice(at) };
}

/** One machine's lines for a query, page after page, in time order; `cursor` is where it stopped. */
async function* pages(c: AgentClient, q: LogQuery, state: { cursor?: LogCursor }): AsyncGenerator<LogLine> {
  let after = q.after;
  for (;;) {
    const page = await c.call("logs.read", { ...q, ...(after ? { after } : {}) });
    state.cursor = page.cursor;
    for (const raw of page.lines) {
      const l = parseLogLine(c.machine, raw);
      if (l) yield l;
    }
    if (!page.more || q.tail !== undefined) return;
    after = page.cursor;
  }
}

/** A machine that fails is reported and left out; the merge goes on with the others. */
async function* guarded(c: AgentClient, src: AsyncGenerator<LogLine>, o: LogsOptions): AsyncGenerator<LogLine> {
  try {
    yield* src;
  } catch (e) {
    o.onUnreachable?.(c.machine, e);
  }
}

/** The lines, oldest first, merged across machines; with `follow`, then every new line as it comes. */
export async function* readLogs(project: Project, o: LogsOptions = {}): AsyncGenerator<LogLine> {
  const { query, machines } = planLogs(project, o);
  const clients = agentClients(project).filter((c) => machines.includes(c.machine));
  const cursors = new Map<AgentClient, { cursor?: LogCursor }>(clients.map((c) => [c, {}]));
  try {
    const merged = mergeSortedAsync(
      clients.map((c) => guarded(c, pages(c, query, cursors.get(c)!), o)),
      (l) => l.time,
    );
    if (query.tail !== undefined) {
      // Each machine sent its last N: the last N of their merge.
      const all: LogLine[] = [];
      for await (const l of merged) all.push(l);
      yield* all.slice(-query.tail);
    } else yield* merged;
    if (!o.follow) return;
    const { tail: _t, ...rest } = query;
    while (!o.signal?.aborted) {
      await sleep(o.intervalMs ?? 1000, o.signal);
      if (o.signal?.aborted) break;
      // New lines from every machine since its cursor, merged by time.
      const round = await Promise.all(
        clients.map(async (c) => {
          const st = cursors.get(c)!;
          const got: LogLine[] = [];
          // A machine not read yet (it failed at first) starts at its end.
          const q: LogQuery = st.cursor ? { ...rest, after: st.cursor } : { ...rest, endOnly: true };
          for await (const l of guarded(c, pages(c, q, st), o)) got.push(l);
          return got;
        }),
      );
      yield* round.flat().sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
    }
  } finally {
    for (const c of clients) c.close();
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => (clearTimeout(t), resolve()), { once: true });
  });
}
