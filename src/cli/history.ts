// skiff history [app]: every deploy, rollback and restart, merged across machines.
import type { HistoryRow } from "../api/history.ts";
import { skiffFor, type Ctx } from "./context.ts";
import { table } from "./table.ts";

export { mergeHistory, type HistoryRow } from "../api/history.ts";

function summary(r: HistoryRow): string {
  const results = Object.entries(r.machines);
  const distinct = new Set(results.map(([, v]) => v.result));
  const reasons = [...new Set(results.map(([, v]) => v.reason).filter(Boolean))];
  if (r.backup) reasons.unshift(`snapshot ${r.backup.snapshot.slice(0, 8)}${r.backup.bytes !== undefined ? `, ${(r.backup.bytes / 1e6).toFixed(1)} MB read, ${((r.backup.added ?? 0) / 1e6).toFixed(1)} MB added` : ""}`);
  const head = distinct.size === 1 ? [...distinct][0]! : results.map(([m, v]) => `${m}: ${v.result}`).join(", ");
  return reasons.length ? `${head} — ${reasons.join("; ")}` : head;
}

export async function historyCommand(ctx: Ctx, app: string | undefined, opts: { limit: number }): Promise<number> {
  const { rows, unreachable, damaged } = await skiffFor(ctx).history({ app, limit: opts.limit });
  if (ctx.json) ctx.out(JSON.stringify(rows));
  else {
    ctx.out(table(["APP", "RELEASE", "ACTION", "COMMIT", "BY", "WHEN", "TOOK", "MACHINES", "RESULT"], rows.map((r) => [r.app, String(r.release), r.action, r.commit ?? "-", r.by ?? "agent", r.at.replace("T", " ").slice(0, 19), r.durationMs ? `${(r.durationMs / 1000).toFixed(1)}s` : "-", Object.keys(r.machines).sort().join(","), summary(r)])));
  }
  for (const m of unreachable) process.stderr.write(`${m}: unreachable, its history is missing above\n`);
  // A torn record (a crash mid-write) is skipped on the machine; say so, or the table would look complete.
  for (const d of damaged) process.stderr.write(`${d.machine}: ${d.lines.length} damaged record(s) in history.jsonl skipped (line ${d.lines.join(", ")})\n`);
  return unreachable.length ? 1 : 0;
}
