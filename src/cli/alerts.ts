// skiff alerts: what fires now, what is pending, and the recent notifications
// with what each receiver made of them.
import type { AlertsReport } from "../api/alerts.ts";
import type { AlertEvent } from "../contracts/alerts.ts";
import { skiffFor, type Ctx } from "./context.ts";
import { table } from "./table.ts";

const time = (ms: number) => new Date(ms).toISOString().replace("T", " ").slice(0, 19);

function delivery(e: AlertEvent): string {
  if (!e.deliveries.length) return "no receivers";
  const sent = e.deliveries.filter((d) => d.deliveredAt !== undefined).length;
  const failed = e.deliveries.filter((d) => d.deliveredAt === undefined);
  const why = failed.find((d) => d.error)?.error;
  return `${sent}/${e.deliveries.length} sent${failed.some((d) => d.gaveUp) ? ", gave up" : failed.length ? `, retrying (${failed.map((d) => d.attempts).join("/")} tries)` : ""}${why ? `: ${why}` : ""}`;
}

export function renderAlerts(r: AlertsReport, all: boolean): string {
  const out: string[] = [];
  if (!r.configured) out.push("the machines have no alert rules yet: they get them at the next deploy, rollback or scale (or skiff.yml has `alerts: { enabled: false }`)");
  out.push(r.firing.length ? table(["FIRING", "SINCE", "SUMMARY"], r.firing.map((a) => [a.key, time(a.firedAt ?? a.since), a.summary])) : "nothing firing");
  if (r.pending.length) out.push(table(["PENDING", "SINCE", "SUMMARY"], r.pending.map((a) => [a.key, time(a.since), a.summary])));
  const events = all ? r.events : r.events.slice(0, 20);
  if (events.length) out.push(table(["AT", "STATUS", "ALERT", "SENT", "SUMMARY"], events.map((e) => [time(e.at), e.status, e.key, delivery(e), e.summary])));
  const leaders = [...new Set(r.machines.flatMap((m) => ("leader" in m && m.leader ? [m.leader] : [])))];
  const missing = r.machines.flatMap((m) => ("missing" in m ? Object.entries(m.missing).map(([peer, since]) => `${m.machine} misses ${peer} since ${since.slice(11, 19)}`) : []));
  const problems = r.machines.flatMap((m) => ("problem" in m ? [`${m.machine}: ${m.problem}`] : []));
  out.push(
    [
      `receivers: ${r.receivers.length ? r.receivers.join(", ") : "none (alerts are only listed here)"}`,
      `sent by: ${leaders.length ? leaders.join(", ") : "no machine yet"}${leaders.length > 1 ? " (the machines disagree: a network split?)" : ""}`,
      ...missing,
      ...problems,
    ].join("\n"),
  );
  return out.join("\n\n");
}

export async function alertsCommand(ctx: Ctx, o: { all?: boolean }): Promise<number> {
  const r = await skiffFor(ctx).alerts.list();
  ctx.out(ctx.json ? JSON.stringify(r) : renderAlerts(r, o.all === true));
  return r.firing.length ? 3 : r.machines.some((m) => "problem" in m) ? 1 : 0;
}
