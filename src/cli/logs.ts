// skiff logs [app]: merged lines from every machine (see src/api/logs.ts), one a line:
//   2026-11-30T06:30:09.123Z m1 web@3 9f2c1a | the text
// or with --json one object a line {time, machine, app, kind, release, instance, text}.
import type { LogLine } from "../api/logs.ts";
import { skiffFor, type Ctx } from "./context.ts";

export interface LogsFlags {
  follow?: boolean;
  since?: string;
  until?: string;
  grep?: string;
  lines?: number;
  machine?: string[];
  release?: number;
  requests?: boolean;
  agent?: boolean;
}

/** The instance's own part of its name (skiff-<project>-<app>-<release>-<id> → id); a slot name stays. */
const shortInstance = (l: LogLine) => (l.instance ? (l.instance.startsWith("skiff-") ? l.instance.slice(l.instance.lastIndexOf("-") + 1) : l.instance) : "-");

export function renderLogLine(l: LogLine): string {
  if (l.kind === "agent") return `${l.time} ${l.machine} agent | ${l.text}`;
  return `${l.time} ${l.machine} ${l.app}${l.release !== null ? `@${l.release}` : ""} ${shortInstance(l)} | ${l.text}`;
}

export async function logsCommand(ctx: Ctx, app: string | undefined, f: LogsFlags): Promise<number> {
  const stop = new AbortController();
  const end = () => stop.abort();
  process.once("SIGINT", end);
  process.once("SIGTERM", end);
  // `skiff logs | head`: a closed pipe ends the command, quietly.
  process.stdout.on("error", (e: NodeJS.ErrnoException) => (e.code === "EPIPE" ? process.exit(0) : undefined));
  const missing = new Set<string>();
  const lines = skiffFor(ctx).logs({
    app,
    follow: f.follow,
    since: f.since,
    until: f.until,
    grep: f.grep,
    tail: f.lines,
    machines: f.machine,
    release: f.release,
    requests: f.requests,
    agent: f.agent,
    signal: stop.signal,
    onUnreachable: (m, e) => {
      if (!missing.has(m)) process.stderr.write(`${m}: could not read its logs (${(e as Error).message.split("\n")[0]}); its lines are missing\n`);
      missing.add(m);
    },
  });
  for await (const l of lines) ctx.out(ctx.json ? JSON.stringify(l) : renderLogLine(l));
  process.off("SIGINT", end);
  process.off("SIGTERM", end);
  return missing.size ? 1 : 0;
}
