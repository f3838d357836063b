// Every deploy, rollback, scale and restart, merged across machines: the data of `skiff history`.
import type { Project } from "../config/model.ts";
import type { HistoryEntry } from "../contracts/model.ts";
import { askAll } from "../transport/agent-client.ts";

export type { HistoryEntry };

export interface HistoryRow {
  app: string;
  release: number;
  action: string;
  commit?: string;
  image?: string;
  by?: string;
  at: string;
  /** The whole command's wall time when it recorded one (deploys do), else the longest machine's part. */
  durationMs?: number;
  /** Where the whole command's time went (DeployPhases), when it recorded them. */
  phases?: Record<string, number>;
  /** What happened on each machine. */
  machines: Record<string, { result: string; reason?: string }>;
  /** A backup's or restore's snapshot and sizes (HistoryEntry.backup). */
  backup?: { snapshot: string; bytes?: number; added?: number; forgot?: number };
}

export interface History {
  /** Oldest first, the last `limit`. */
  rows: HistoryRow[];
  /** Machines that did not answer: their part is missing from `rows`. */
  unreachable: string[];
  /** Torn records (a crash mid-write) each machine skipped, by line of its history.jsonl. */
  damaged: { machine: string; lines: number[] }[];
}

/** One row per (deploy, app, release, action): what happened on each machine. */
export function mergeHistory(entries: HistoryEntry[]): HistoryRow[] {
  const rows = new Map<string, HistoryRow & { summarized?: boolean }>();
  for (const e of [...entries].sort((a, b) => a.at.localeCompare(b.at))) {
    // The supervisor's restarts (no deployId) are one row each; a `skiff restart` is one row like a deploy.
    const key = e.action === "restart" && !e.deployId ? `${e.at}|${e.machine}|${e.reason}` : `${e.deployId ?? e.at}|${e.app}|${e.release}|${e.action === "deploy" && e.result === "rolled back" ? "deploy" : e.action}`;
    const row = rows.get(key) ?? { app: e.app, release: e.release, action: e.action, commit: e.commit, image: e.image, by: e.by, at: e.at, machines: {} };
    rows.set(key, row);
    row.commit ??= e.commit;
    row.image ??= e.image;
    if (e.summary) {
      // The command's own record (every machine keeps a copy): its wall time wins over any machine's part.
      Object.assign(row, { durationMs: e.durationMs, phases: e.phases, summarized: true });
      continue;
    }
    row.machines[e.machine] = { result: e.result, reason: e.reason };
    if (e.backup) row.backup = e.backup;
    if (!(row as { summarized?: boolean }).summarized) row.durationMs = Math.max(row.durationMs ?? 0, e.durationMs ?? 0) || undefined;
  }
  // A summary alone (its machines' records pruned or unreachable) is still a row; the marker stays internal.
  return [...rows.values()].map(({ summarized: _s, ...r }: HistoryRow & { summarized?: boolean }) => r);
}

type Report = { entries: HistoryEntry[]; damaged: { line: number; text: string }[] };
// (An agent from before damage reports answers with the records alone.)
const asReport = (v: Report | HistoryEntry[]): Report => (Array.isArray(v) ? { entries: v, damaged: [] } : v);

export async function gatherHistory(project: Project, opts: { app?: string; limit?: number } = {}): Promise<History> {
  const res = await askAll(project, async (c) => asReport(await c.call<Report | HistoryEntry[]>("history", { project: project.name, app: opts.app, report: true })));
  const rows = mergeHistory(res.flatMap((r) => (r.ok ? r.value.entries : [])));
  return {
    rows: opts.limit === undefined ? rows : rows.slice(-opts.limit),
    unreachable: res.filter((r) => !r.ok).map((r) => r.machine),
    damaged: res.flatMap((r) => (r.ok && r.value.damaged.length ? [{ machine: r.machine, lines: r.value.damaged.map((d) => d.line) }] : [])),
  };
}
