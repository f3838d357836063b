// The CLI's side of alerts: every machine is told the project's rules,
// receivers, machines and apps at every deploy, rollback and scale (before
// anything moves), one idempotent RPC each. A webhook_secret is read from the
// secrets here and travels only inside the RPC (never argv, never printed).
import type { Project } from "../config/model.ts";
import type { Reporter } from "../contracts/events.ts";
import { UserError } from "../errors.ts";
import { alertReceivers, alertsConfigFor, alertSecretNames } from "../plan/alerts.ts";
import { readSecrets } from "../secrets/store.ts";
import { AgentRefused, type AgentClient } from "../transport/agent-client.ts";

export async function syncAlerts(clients: AgentClient[], project: Project, reporter: Reporter): Promise<void> {
  if (!project.alerts) return alertsOff(clients, project, reporter);
  let receivers;
  try {
    receivers = alertReceivers(project, alertSecretNames(project).length ? await readSecrets(project) : {});
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError((e as Error).message, { exitCode: 2, hint: "`skiff secrets set NAME` stores the webhook's URL; or write the URL as `webhook:` when it holds no token" });
  }
  await Promise.all(
    clients.map(async (c) => {
      const cfg = alertsConfigFor(project, c.machine, receivers)!;
      const started = Date.now();
      try {
        const r = await c.call("alerts.set", cfg);
        if (r.changed) reporter.emit({ type: "step", machine: c.machine, step: `alerts: ${Object.keys(cfg.rules).length} rule(s), ${cfg.receivers.length} receiver(s)`, status: "ok", ms: Date.now() - started });
      } catch (e) {
        // Alerts never stop a deploy: an older agent is named with what to run; any other failure is shown.
        const message = e instanceof AgentRefused && e.code === "ENOMETHOD" ? "the agent predates alerts: run `skiff setup` to install it" : `alerts not updated: ${(e as Error).message}`;
        reporter.emit({ type: "note", machine: c.machine, message });
      }
    }),
  );
}

/** `alerts: { enabled: false }`: the machines forget the project's alerts (they stop asking each other). */
async function alertsOff(clients: AgentClient[], project: Project, reporter: Reporter): Promise<void> {
  await Promise.all(
    clients.map(async (c) => {
      try {
        const r = await c.call("alerts.off", { project: project.name });
        if (r.changed) reporter.emit({ type: "step", machine: c.machine, step: "alerts: off", status: "ok", ms: 0 });
      } catch (e) {
        if (!(e instanceof AgentRefused && e.code === "ENOMETHOD")) reporter.emit({ type: "note", machine: c.machine, message: `alerts not turned off: ${(e as Error).message}` });
      }
    }),
  );
}
