// Pure: what the CLI tells each machine about the project's alerts: the rules,
// the receivers (a webhook_secret's URL resolved from the secrets), the
// machines in rank order (the first reachable one sends) and the apps.
import type { MachineSpec, Project } from "../config/model.ts";
import type { AlertReceiver, AlertsConfig } from "../contracts/alerts.ts";

/** The receivers with secret URLs filled in; a missing secret is the caller's error to report (named, not shown). */
export function alertReceivers(project: Project, secrets: Record<string, string>): AlertReceiver[] {
  return (project.alerts?.receivers ?? []).map((r) => {
    if (r.kind === "command") return r;
    if ("url" in r) return { kind: "webhook", url: r.url, format: r.format };
    const url = secrets[r.secret];
    if (url === undefined) throw new Error(`alerts: the secret ${r.secret} (a webhook_secret) is not in ${project.environment ? `secrets/${project.environment}.age` : "the secrets"}`);
    if (!/^https?:\/\/\S+$/.test(url)) throw new Error(`alerts: the secret ${r.secret} is not an http:// or https:// URL`);
    return { kind: "webhook", url, format: r.format };
  });
}

/** The config for one machine (absent when the project switched alerts off). Machines rank by name. */
export function alertsConfigFor(project: Project, machine: string, receivers: AlertReceiver[]): AlertsConfig | undefined {
  if (!project.alerts) return undefined;
  const machines = Object.entries(project.machines)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, m]: [string, MachineSpec]) => ({ name, ...(m.privateAddress ? { addr: m.privateAddress } : {}) }));
  return {
    project: project.name,
    ...(project.environment ? { environment: project.environment } : {}),
    self: machine,
    machines,
    apps: Object.keys(project.apps).sort(),
    rules: project.alerts.rules,
    receivers,
    intervalMs: project.alerts.intervalMs,
  };
}

/** The secrets the alerts need (none: the caller need not decrypt anything). */
export const alertSecretNames = (project: Project): string[] => (project.alerts?.receivers ?? []).flatMap((r) => (r.kind === "webhook" && "secret" in r ? [r.secret] : []));
