// Pure: what a receiver gets for an alert event. The JSON shape is documented
// in docs/alerts.md and versioned; Slack's incoming webhooks take {"text"}.
import type { AlertEvent, AlertRuleName } from "../contracts/alerts.ts";

/** A rule's name as skiff.yml writes it. */
export const RULE_NAMES: Record<AlertRuleName, string> = {
  errorRate: "error_rate",
  latencyP95: "latency_p95",
  restarts: "restarts",
  oom: "oom",
  disk: "disk",
  memory: "memory",
  machineDown: "machine_down",
  deployFailed: "deploy_failed",
  backupFailed: "backup_failed",
  certificate: "certificate",
};

export interface AlertPayload {
  version: 1;
  project: string;
  environment?: string;
  status: AlertEvent["status"];
  rule: string;
  key: string;
  summary: string;
  labels: Record<string, string>;
  value?: number;
  at: string;
  id: string;
  /** The machine that decided (the project's first reachable machine). */
  sentBy: string;
}

export function alertPayload(e: AlertEvent, ctx: { project: string; environment?: string }): AlertPayload {
  return {
    version: 1,
    project: ctx.project,
    ...(ctx.environment ? { environment: ctx.environment } : {}),
    status: e.status,
    rule: RULE_NAMES[e.rule] ?? e.rule,
    key: e.key,
    summary: e.summary,
    labels: e.labels,
    ...(e.value !== undefined ? { value: e.value } : {}),
    at: new Date(e.at).toISOString(),
    id: e.id,
    sentBy: e.by,
  };
}

/** One line for a chat: "[FIRING] shop (prod): web: 12% of requests failed …". */
export function slackText(e: AlertEvent, ctx: { project: string; environment?: string }): string {
  return `[${e.status.toUpperCase()}] ${ctx.project}${ctx.environment ? ` (${ctx.environment})` : ""}: ${e.summary}`;
}
