// The firewall in setup's plan and in what the CLI tells each machine: nftables
// installed where the firewall is on, one step when the agent's word differs (a
// second setup changes nothing), and the allow-list made of the project's
// machines' private addresses.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Project } from "../../src/config/model.ts";
import type { FirewallStatus } from "../../src/contracts/firewall.ts";
import { firewallChanges, firewallEntryFor } from "../../src/plan/firewall.ts";
import type { MachineFacts } from "../../src/machines/probe.ts";
import { agentBundle, agentWrapper, initScript } from "../../src/plan/agent-files.ts";
import { describeStep, planSetup, type NodeRuntime } from "../../src/plan/setup.ts";

const agent = agentBundle(Buffer.from("console.log('agent')"));
const node: NodeRuntime = { source: "test", version: "v20.20.2", sha256: "n0de", bytes: 99e6, arch: "x86_64" };
const entry = { project: "shop", addresses: ["10.0.0.1", "10.0.0.2", "10.0.0.3"], enabled: true };
const ready = (over: Partial<MachineFacts> = {}): MachineFacts => ({
  os: { id: "debian", like: [], version: "12", name: "Debian GNU/Linux 12 (bookworm)" },
  arch: "x86_64", systemd: false, root: true, apt: true,
  docker: { client: "20.10", server: "20.10" }, haproxy: "2.6.12",
  node: { version: "v20.20.2", major: 20, path: "/var/lib/skiff/node/bin/node" },
  sha: { agent: agent.sha256, agentBin: agentWrapper().sha256, init: initScript().sha256, node: node.sha256 },
  stateDir: true,
  agent: { version: "0.1.0", sha256: agent.sha256, node: "v20.20.2", pid: 10, startedAt: "" },
  nft: true,
  disk: { freeKb: 1e7, totalKb: 2e7, inodesFree: 6e5, inodesTotal: 1e6 }, memory: { totalKb: 4e6, availKb: 3e6 }, cpus: 2,
  ...over,
});
const applied = (entries = [entry]): FirewallStatus => ({ state: "applied", addresses: entry.addresses, entries });
const steps = (f: MachineFacts, firewall = entry) => planSetup(f, { agent, node, needsDocker: true, firewall }).steps.map(describeStep);

describe("firewall in setup's plan", () => {
  it("a machine without nft gets nftables with the rest, then the firewall once the agent runs", () => {
    assert.deepEqual(steps(ready({ nft: false, haproxy: undefined, agent: undefined })), [
      "install haproxy, nftables (apt)",
      "start the agent (supervised daemon)",
      "firewall: allow 3 project machine(s) on instance and mesh ports",
    ]);
  });

  it("the agent holds the same word and the table is in: nothing to do (a second setup says so)", () => {
    assert.deepEqual(steps(ready({ firewall: applied() })), []);
    // Another project's word beside ours changes nothing for us.
    assert.deepEqual(steps(ready({ firewall: applied([{ project: "blog", addresses: ["10.0.0.9"], enabled: true }, entry]) })), []);
  });

  it("a new machine in the project, a failed nft, or an agent that does not say: the step again", () => {
    assert.deepEqual(steps(ready({ firewall: applied() }), { ...entry, addresses: [...entry.addresses, "10.0.0.4"] }), ["firewall: allow 4 project machine(s) on instance and mesh ports"]);
    assert.deepEqual(steps(ready({ firewall: { ...applied(), state: "failed", error: "nft -f failed (exit 1): x" } })), ["firewall: allow 3 project machine(s) on instance and mesh ports"]);
    assert.deepEqual(steps(ready({ firewall: undefined })), ["firewall: allow 3 project machine(s) on instance and mesh ports"]);
  });

  it("firewall: false installs no nftables and takes skiff's table away", () => {
    assert.deepEqual(steps(ready({ nft: false, firewall: applied() }), { ...entry, enabled: false }), ["firewall: off (firewall: false), remove skiff's table"]);
    assert.deepEqual(steps(ready({ nft: false, firewall: { state: "off", addresses: [], entries: [{ ...entry, enabled: false }] } }), { ...entry, enabled: false }), []);
  });
});

describe("what each machine is told", () => {
  const m = (name: string, privateAddress?: string, firewall?: boolean) => ({ name, host: "127.0.0.1", local: false, user: "root", sshOptions: {}, labels: [], httpPort: 80, privateAddress, firewall });
  const project = { name: "shop", environment: "prod", machines: { m1: m("m1", "10.0.0.2"), m2: m("m2", "fd00::1", false), m3: m("m3") } } as unknown as Project;

  it("every machine's private address (not the ssh host), the environment, and the machine's own switch", () => {
    assert.deepEqual(firewallEntryFor(project, project.machines.m1!), { project: "shop", environment: "prod", addresses: ["10.0.0.2", "fd00::1"], enabled: true });
    assert.equal(firewallEntryFor(project, project.machines.m2!).enabled, false);
  });

  it("the deploy plan names the machines whose firewall changes (and agents that predate it), none when settled or not asked", () => {
    const settled = { state: "applied" as const, addresses: ["10.0.0.2", "fd00::1"], entries: [firewallEntryFor(project, project.machines.m1!)] };
    const machine = (name: string, firewall: unknown) => ({ machine: name, apps: {}, specs: {}, ...(firewall !== undefined ? { firewall } : {}) }) as never;
    const o = { machines: [machine("m1", settled), machine("m2", settled), machine("m3", null)], unreachable: [] };
    assert.deepEqual(firewallChanges(project, o), [
      { machine: "m2", change: "off (firewall: false), remove skiff's table" },
      { machine: "m3", change: "the agent predates skiff's firewall: `skiff setup` installs it" },
    ]);
    assert.deepEqual(firewallChanges(project, { machines: [machine("m1", undefined)], unreachable: [] }), []);
  });
});
