// /metrics for a scraper: skiff.yml's `metrics` → each machine's firewall word
// (address, port, allow) → the table's rule that lets only the listed
// scrapers reach that port; hostile values never reach the nft file.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { desired } from "../../src/agent/firewall.ts";
import { renderTable } from "../../src/agent/firewall-rules.ts";
import type { Project } from "../../src/config/model.ts";
import { parseParams } from "../../src/contracts/rpc.ts";
import { firewallEntryFor, firewallSettled } from "../../src/plan/firewall.ts";

const HOSTILE = ["10.0.0.1; flush ruleset", "10.0.0.1 }\ntable ip x {", "$(reboot)", "10.0.0.0/8", "example.com", "fe80::1%eth0"];

describe("metrics through the firewall", () => {
  it("GIVEN a metrics port and scrapers THEN the table sends that port to from_scrapers, which takes only them", () => {
    const t = renderTable({ peers: ["172.30.77.11"], gateways: [], metrics: { ports: [8107, 8107], allow: ["172.30.77.1", "FD00::9", "172.30.77.1"] } });
    assert.match(t, /\tset scrapers4 \{\n\t\ttype ipv4_addr\n\t\telements = \{ 172\.30\.77\.1 \}\n\t\}/);
    assert.match(t, /\tset scrapers6 \{\n\t\ttype ipv6_addr\n\t\telements = \{ fd00::9 \}\n\t\}/);
    assert.match(t, /\tchain from_scrapers \{\n\t\tip saddr @scrapers4 accept\n\t\tip6 saddr @scrapers6 accept\n\t\tmeta l4proto tcp reject with tcp reset\n\t\treject\n\t\}/);
    assert.match(t, /\t\tiifname "lo" accept\n\t\tfib daddr type local meta l4proto \{ tcp, udp \} th dport \{ 7443, 7444, 20000-29999 \} jump from_peers\n\t\tfib daddr type local tcp dport \{ 8107 \} jump from_scrapers\n/);
    // No metrics asked: not a word of it in the table.
    assert.doesNotMatch(renderTable({ peers: [], gateways: [] }), /scrapers/);
  });

  it("an empty allow list still guards the port (only the machine itself, through lo)", () => {
    const t = renderTable({ peers: [], gateways: [], metrics: { ports: [9465], allow: [] } });
    assert.match(t, /set scrapers4 \{\n\t\ttype ipv4_addr\n\t\}/);
    assert.match(t, /dport \{ 9465 \} jump from_scrapers/);
  });

  it("hostile scraper addresses are refused by the RPC schema and by the renderer", () => {
    for (const a of HOSTILE) {
      assert.throws(() => parseParams("firewall.set", { project: "p", addresses: [], enabled: true, metrics: { address: "10.0.0.1", port: 9465, allow: [a] } }), /invalid parameters/, a);
      assert.throws(() => renderTable({ peers: [], gateways: [], metrics: { ports: [9465], allow: [a] } }), /metrics scraper/, a);
    }
    assert.throws(() => parseParams("firewall.set", { project: "p", addresses: [], enabled: true, metrics: { address: "$(id)", port: 9465, allow: [] } }), /invalid parameters/);
    assert.throws(() => renderTable({ peers: [], gateways: [], metrics: { ports: [70000], allow: [] } }), /not a port/);
  });

  it("desired(): the union of every project's scrapers and ports", () => {
    const d = desired(
      [
        { project: "a", addresses: ["10.0.0.1"], enabled: true, metrics: { address: "10.0.0.1", port: 9465, allow: ["10.0.0.9"] } },
        { project: "b", addresses: ["10.0.0.1"], enabled: true, metrics: { address: "10.0.0.1", port: 9466, allow: ["10.0.0.8"] } },
        { project: "c", addresses: ["10.0.0.1"], enabled: true },
      ],
      [],
    );
    assert.match(d.script, /elements = \{ 10\.0\.0\.8, 10\.0\.0\.9 \}/);
    assert.match(d.script, /dport \{ 9465, 9466 \} jump from_scrapers/);
  });

  it("the CLI's word: metrics only for machines with a private address; a changed allow list is a change", () => {
    const project = { name: "shop", machines: { m1: { name: "m1", privateAddress: "10.0.0.1" }, m2: { name: "m2" } }, apps: {}, metrics: { port: 9465, allow: ["10.0.0.9"] } } as unknown as Project;
    const e1 = firewallEntryFor(project, project.machines.m1!);
    assert.deepEqual(e1.metrics, { address: "10.0.0.1", port: 9465, allow: ["10.0.0.9"] });
    assert.equal(firewallEntryFor(project, project.machines.m2!).metrics, undefined);
    const held = { state: "applied" as const, addresses: ["10.0.0.1"], entries: [e1] };
    assert.equal(firewallSettled(held, e1), true);
    assert.equal(firewallSettled(held, { ...e1, metrics: { ...e1.metrics!, allow: ["10.0.0.7"] } }), false);
    assert.equal(firewallSettled(held, { ...e1, metrics: undefined }), false);
  });
});

describe("metrics RPC parameters", () => {
  it("metrics.history takes a metric-name prefix (digits too) and nothing else", () => {
    assert.deepEqual(parseParams("metrics.history", { prefix: "skiff_machine_load1", sinceMs: 5 }), { prefix: "skiff_machine_load1", sinceMs: 5 });
    assert.throws(() => parseParams("metrics.history", { prefix: 'x"}' }), /invalid parameters for metrics.history: params.prefix/);
    assert.deepEqual(parseParams("metrics.text", undefined), undefined);
    assert.throws(() => parseParams("metrics.text", { project: 5 }), /params.project/);
  });
});
