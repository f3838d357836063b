// Pure: what a project says to each machine's firewall (its machines' private
// addresses, or off), and whether the machine already holds it. Setup's plan,
// the deploy plan and the CLI's sync all use these.
import type { MachineSpec, Project } from "../config/model.ts";
import type { FirewallEntry, FirewallStatus } from "../contracts/firewall.ts";
import type { Observed } from "./observed.ts";

/** What `firewall.set` says about this project on `machine`. Machines without a private address have no peers'
 *  traffic to allow (their instances bind loopback), and an address they send from is not known. */
export function firewallEntryFor(project: Project, machine: MachineSpec): FirewallEntry {
  const addresses = [...new Set(Object.values(project.machines).flatMap((m) => (m.privateAddress ? [m.privateAddress] : [])))].sort();
  return { project: project.name, ...(project.environment ? { environment: project.environment } : {}), addresses, enabled: machine.firewall !== false };
}

export function describeFirewall(e: FirewallEntry): string {
  return e.enabled ? `allow ${e.addresses.length} project machine(s) on instance and mesh ports` : "off (firewall: false), remove skiff's table";
}

const entryKey = (e: FirewallEntry) => JSON.stringify([e.project, e.environment ?? "", [...e.addresses].sort(), e.enabled]);

/** The agent already holds this project's word, and the kernel what it says (not a failed nft). */
export function firewallSettled(fw: FirewallStatus | null | undefined, want: FirewallEntry): boolean {
  if (!fw || fw.state === "failed") return false;
  if (!fw.entries.some((e) => entryKey(e) === entryKey(want))) return false;
  return want.enabled ? fw.state === "applied" || fw.state === "off" : fw.state === "off";
}

/** Per machine whose firewall the command would change: what it becomes. Machines whose agent was not asked
 *  (`firewall` undefined) are left out; an agent that predates the firewall (null) is named. */
export function firewallChanges(project: Project, o: Observed): { machine: string; change: string }[] {
  return o.machines.flatMap((m) => {
    const spec = project.machines[m.machine];
    if (!spec || m.firewall === undefined) return [];
    if (m.firewall === null) return [{ machine: m.machine, change: "the agent predates skiff's firewall: `skiff setup` installs it" }];
    const want = firewallEntryFor(project, spec);
    return firewallSettled(m.firewall, want) ? [] : [{ machine: m.machine, change: describeFirewall(want) }];
  });
}
