// The CLI's side of skiff's firewall: each machine is told the project's machine
// addresses (its allow-list) at setup and at every deploy, rollback and scale.
// One RPC per machine, idempotent: the agent rewrites the table only when the
// union of its projects' lists changes.
import type { Project } from "../config/model.ts";
import type { FirewallEntry } from "../contracts/firewall.ts";
import type { Reporter } from "../contracts/events.ts";
import { AGENT_BIN } from "../contracts/paths.ts";
import { firewallEntryFor } from "../plan/firewall.ts";
import { describeStep } from "../plan/setup.ts";
import { AgentRefused, firewallHint, type AgentClient } from "../transport/agent-client.ts";
import { RemoteError, relevantStderr } from "../transport/remote-error.ts";
import type { Transport } from "../transport/types.ts";

/** The words progress uses for one machine's firewall (the setup plan's). */
const describe = (entry: FirewallEntry): string => describeStep({ kind: "firewall", entry });

/** Setup's way: through the agent command on the machine (setup talks to machines over its transport, not RPC). */
export async function setFirewallOver(t: Transport, entry: FirewallEntry, step: string): Promise<void> {
  const argv = [AGENT_BIN, "call", "firewall.set", JSON.stringify(entry)];
  const r = await t.run(argv, { step, allowFailure: true, timeoutMs: 30_000 });
  if (r.code !== 0) throw new RemoteError(t.machine.name, step, argv.join(" "), r.code, r.signal, relevantStderr(r.stderr), t.viaSsh, firewallHint(t.machine.name));
}

/** Tells every machine; a machine whose nft fails stops the command before anything else changes there. */
export async function syncFirewall(clients: AgentClient[], project: Project, reporter: Reporter): Promise<void> {
  const failures: unknown[] = [];
  await Promise.all(
    clients.map(async (c) => {
      const entry = firewallEntryFor(project, c.transport.machine);
      const started = Date.now();
      try {
        const r = await c.call("firewall.set", entry);
        if (r.changed) reporter.emit({ type: "step", machine: c.machine, step: describe(entry), status: "ok", ms: Date.now() - started });
      } catch (e) {
        // An agent from before the firewall: the command goes on, and says what to run.
        if (e instanceof AgentRefused && e.code === "ENOMETHOD") return reporter.emit({ type: "note", machine: c.machine, message: "the agent predates skiff's firewall: run `skiff setup` to install it" });
        reporter.emit({ type: "step", machine: c.machine, step: describe(entry), status: "failed", ms: Date.now() - started, detail: (e as Error).message });
        failures.push(e);
      }
    }),
  );
  if (failures.length) throw failures[0];
}
