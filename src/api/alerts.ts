// `skiff alerts` from the CLI's side: every machine's view of the project's
// alerts (alerts.get over the agent channel); the newest ledger (highest
// version) is the project's, since every machine copies the leader's.
import type { Project } from "../config/model.ts";
import type { ActiveAlert, AlertEvent, AlertsView } from "../contracts/alerts.ts";
import { askAll } from "../transport/agent-client.ts";
import { machineProblem } from "./machine-problem.ts";

export interface AlertsReport {
  firing: ActiveAlert[];
  pending: ActiveAlert[];
  /** Newest first. */
  events: AlertEvent[];
  /** The receivers as the machines know them (kind and host only). */
  receivers: string[];
  /** Which machine each machine takes for the leader (the sender), and which peers it misses since when. */
  machines: ({ machine: string; leader?: string; missing: Record<string, string>; lastRound?: string; version: number } | { machine: string; problem: string })[];
  /** The machines have no alert config yet (no deploy since alerts came), or skiff.yml turned alerts off. */
  configured: boolean;
}

export async function alertsReport(project: Project): Promise<AlertsReport> {
  const res = (await askAll(project, (c) => c.call("alerts.get", { project: project.name }))).map((r) => (r.ok ? { ...r, value: r.value as AlertsView } : r));
  const views = res.flatMap((r) => (r.ok ? [{ machine: r.machine, v: r.value }] : []));
  const best = views.reduce<{ machine: string; v: AlertsView } | undefined>((b, x) => (!b || x.v.ledger.version > b.v.ledger.version ? x : b), undefined);
  const active = Object.values(best?.v.ledger.active ?? {}).sort((a, b) => a.since - b.since);
  return {
    firing: active.filter((a) => a.state === "firing"),
    pending: active.filter((a) => a.state === "pending"),
    events: [...(best?.v.ledger.events ?? [])].reverse(),
    receivers: views.find((x) => x.v.config)?.v.config?.receivers ?? [],
    machines: res.map((r) => {
      if (!r.ok) return { machine: r.machine, problem: machineProblem(r.error) };
      const { leader, missing, lastRound, ledger } = r.value;
      return { machine: r.machine, ...(leader ? { leader } : {}), missing, ...(lastRound ? { lastRound } : {}), version: ledger.version };
    }),
    configured: views.some((x) => x.v.config),
  };
}
