// skiff history [app]: every deploy, rollback and restart, merged across machines.
import type { HistoryEntry } from "../contracts/model.ts";
import { askAll } from "../transport/agent-client.ts";
import type { Ctx } from "./context.ts";
import { table } from "./table.ts";

export interface HistoryRow {
  app: string;
  release: number;
  action: string;
  commit?: string;
  image?: string;
  by?: string;
  at: string;
  durationMs?: number;
  machines: Record<string, { result: string; reason?: string }>;
}

/** One row per (deploy, app, release, action): what happened on each machine. */
export function mergeHistory(entries: HistoryEntry[]): HistoryRow[] {
  const rows = new Map<string, HistoryRow>();
  for (const e of [...entries].sort((a, b) => a.at.localeCompare(b.at))) {
    const key = e.action === "restart" ? `${e.at}|${e.machine}|${e.reason}` : `${e.deployId ?? e.at}|${e.app}|${e.release}|${e.action === "deploy" && e.result === "rolled back" ? "deploy" : e.action}`;
    const row = rows.get(key) ?? { app: e.app, release: e.release, action: e.action, commit: e.commit, image: e.image, by: e.by, at: e.at, durationMs: e.durationMs, machines: {} };
    row.machines[e.machine] = { result: e.result, reason: e.reason };
    row.commit ??= e.commit;
    row.image ??= e.image;
    row.durationMs = Math.max(row.durationMs ?? 0, e.durationMs ?? 0) || undefined;
    rows.set(key, row);
  }
  return [...rows.values()];
}

type Report = { entries: HistoryEntry[]; damaged: { line: number; text: string }[] };
export const asReport = (v: Report | HistoryEntry[]): Report => (Array.isArray(v) ? { entries: v, damaged: [] } : v);

function summary(r: HistoryRow): string {
  const results = Object.entries(r.machines);
  const distinct = new Set(results.map(([, v]) => v.result));
  const reasons = [...new Set(results.map(([, v]) => v.reason).filter(Boolean))];
  const head = distinct.size === 1 ? [...distinct][0]! : results.map(([m, v]) => `${m}: ${v.result}`).join(", ");
  return reasons.length ? `${head} — ${reasons.join("; ")}` : head;
}

export async function historyCommand(ctx: Ctx, app: string | undefined, opts: { limit: number }): Promise<number> {
  // (An agent from before damage reports answers with the records alone.)
  const res = await askAll(ctx.project, async (c) => asReport(await c.call<Report | HistoryEntry[]>("history", { project: ctx.project.name, app, report: true })));
  const entries = res.flatMap((r) => (r.ok ? r.value.entries : []));
  const failed = res.filter((r) => !r.ok).map((r) => r.machine);
  const rows = mergeHistory(entries).slice(-opts.limit);
  if (ctx.json) ctx.out(JSON.stringify(rows));
  else {
    ctx.out(table(["APP", "RELEASE", "ACTION", "COMMIT", "BY", "WHEN", "TOOK", "MACHINES", "RESULT"], rows.map((r) => [r.app, String(r.release), r.action, r.commit ?? "-", r.by ?? "agent", r.at.replace("T", " ").slice(0, 19), r.durationMs ? `${(r.durationMs / 1000).toFixed(1)}s` : "-", Object.keys(r.machines).sort().join(","), summary(r)])));
  }
  for (const m of failed) process.stderr.write(`${m}: unreachable, its history is missing above\n`);
  // A torn record (a crash mid-write) is skipped on the machine; say so, or the table would look complete.
  for (const r of res) {
    if (r.ok && r.value.damaged.length) process.stderr.write(`${r.machine}: ${r.value.damaged.length} damaged record(s) in history.jsonl skipped (line ${r.value.damaged.map((d) => d.line).join(", ")})\n`);
  }
  return failed.length ? 1 : 0;
}
