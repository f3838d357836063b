// skiff's nftables table: the exact rules for a few inputs, addresses that are not
// addresses refused before they reach the file, the one-transaction file shape,
// and the agent's keeper (one project's word, the union, off, forget, failures)
// with a recording nft.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parseParams } from "../../src/contracts/rpc.ts";
import { INSTANCE_PORTS, MESH_PORTS } from "../../src/contracts/ports.ts";
import { desired, Firewall, FirewallError, type Nft } from "../../src/agent/firewall.ts";
import { applyScript, PROTECTED_PORTS, REMOVE_SCRIPT, renderTable } from "../../src/agent/firewall-rules.ts";
import { KeyedMutex } from "../../src/agent/mutex.ts";

const HOSTILE = ["10.0.0.1; flush ruleset", "10.0.0.1 }\ntable ip x {", "$(reboot)", "`id`", "10.0.0.1|x", "fe80::1%eth0", "10.0.0.256", "example.com", "", "10.0.0.0/8", '10.0.0.1"'];

describe("firewall rules (pure)", () => {
  it("GIVEN three IPv4 machines and Docker's gateway THEN instance and mesh ports take only them, lo and the machine's containers, the gateway's address (every port: port 80's names, TCP apps' internal ports) only its containers", () => {
    assert.equal(
      renderTable({ peers: ["172.30.77.13", "172.30.77.11", "172.30.77.12", "172.30.77.11"], gateways: ["172.17.0.1"] }),
      `table inet skiff {
	set peers4 {
		type ipv4_addr
		elements = { 172.30.77.11, 172.30.77.12, 172.30.77.13 }
	}
	set peers6 {
		type ipv6_addr
	}

	chain from_peers {
		iifname "docker0" accept
		iifname "br-*" accept
		ip saddr @peers4 accept
		ip6 saddr @peers6 accept
		meta l4proto tcp reject with tcp reset
		reject
	}

	chain from_machine {
		iifname "docker0" accept
		iifname "br-*" accept
		meta l4proto tcp reject with tcp reset
		reject
	}

	chain prerouting {
		type filter hook prerouting priority -150; policy accept;
		iifname "lo" accept
		fib daddr type local meta l4proto { tcp, udp } th dport { 7443, 7444, 20000-29999 } jump from_peers
		ip daddr 172.17.0.1 jump from_machine
	}
}`,
    );
  });

  it("IPv6 machines go into the ip6 set, lower-cased; no gateway (no Docker) means no gateway rule", () => {
    const t = renderTable({ peers: ["FD00::B", "10.1.0.2", "fd00::a"], gateways: [] });
    assert.match(t, /set peers4 \{\n\t\ttype ipv4_addr\n\t\telements = \{ 10\.1\.0\.2 \}\n\t\}/);
    assert.match(t, /set peers6 \{\n\t\ttype ipv6_addr\n\t\telements = \{ fd00::a, fd00::b \}\n\t\}/);
    assert.doesNotMatch(t, /daddr [0-9a-f:.]+ jump from_machine/);
    const g6 = renderTable({ peers: [], gateways: ["fd00:17::1"] });
    assert.match(g6, /ip6 daddr fd00:17::1 jump from_machine/);
  });

  it("protects the ports of contracts/ports.ts", () => {
    assert.equal(PROTECTED_PORTS, `{ ${MESH_PORTS.http}, ${MESH_PORTS.tcp}, ${INSTANCE_PORTS.from}-${INSTANCE_PORTS.to} }`);
  });

  it("refuses anything but an IP literal, as a machine address and as a gateway", () => {
    for (const bad of HOSTILE) {
      assert.throws(() => renderTable({ peers: [bad], gateways: [] }), /machine address .* (is not an IPv4 or IPv6 address|has a zone index)/, bad);
      assert.throws(() => renderTable({ peers: [], gateways: [bad] }), /Docker gateway/, bad);
    }
  });

  it("the RPC refuses them too, before the agent stores anything", () => {
    for (const bad of HOSTILE) assert.throws(() => parseParams("firewall.set", { project: "p", addresses: [bad], enabled: true }), /invalid parameters for firewall.set: params.addresses.0/, bad);
    assert.deepEqual(parseParams("firewall.set", { project: "p", addresses: ["10.0.0.1", "fd00::1"], enabled: true }).addresses, ["10.0.0.1", "fd00::1"]);
  });

  it("one transaction that names only skiff's table: add (so there is one), delete, the whole table", () => {
    const s = applyScript({ peers: ["10.0.0.1"], gateways: [] });
    const lines = s.split("\n");
    assert.deepEqual(lines.slice(0, 3), ["add table inet skiff", "delete table inet skiff", "table inet skiff {"]);
    assert.equal(s.match(/^(add|delete|flush|table)\b.*/gm)!.filter((l) => !/ inet skiff( \{)?$/.test(l)).length, 0);
    assert.doesNotMatch(s, /flush|ruleset/);
    assert.equal(REMOVE_SCRIPT, "add table inet skiff\ndelete table inet skiff\n");
  });
});

describe("firewall keeper (agent)", () => {
  const setup = (nft: Nft = async () => ({ code: 0, stderr: "" }), gateways: string[] | undefined = ["172.17.0.1"]) => {
    const dir = mkdtempSync(join(tmpdir(), "skiff-fw-"));
    const file = join(dir, "firewall.json");
    const ran: string[] = [];
    const rec: Nft = async (s) => (ran.push(s), nft(s));
    const fw = () => new Firewall(file, new KeyedMutex(), () => {}, rec, async () => gateways);
    return { file, ran, fw };
  };
  const a = { project: "a", addresses: ["10.0.0.1", "10.0.0.2"], enabled: true };
  const b = { project: "b", environment: "prod", addresses: ["10.0.0.2", "10.0.0.3"], enabled: true };

  it("applies the union of every project's machines; the same word again runs nothing", async () => {
    const t = setup();
    const f = t.fw();
    assert.equal((await f.set(a)).changed, true);
    const r = await f.set(b);
    assert.equal(r.changed, true);
    assert.deepEqual(r.status.addresses, ["10.0.0.1", "10.0.0.2", "10.0.0.3"]);
    assert.equal(r.status.state, "applied");
    assert.equal(t.ran.at(-1), applyScript({ peers: ["10.0.0.1", "10.0.0.2", "10.0.0.3"], gateways: ["172.17.0.1"] }));
    assert.equal((await f.set(b)).changed, false);
    assert.equal(t.ran.length, 2);
    assert.equal(statSync(t.file).mode & 0o777, 0o600);
  });

  it("a project whose machines another project already allows: nft runs nothing, but firewall.get carries its word (a plan sees it told)", async () => {
    const t = setup();
    const f = t.fw();
    await f.set(a);
    const same = { project: "c", addresses: ["10.0.0.2", "10.0.0.1"], enabled: true };
    const r = await f.set(same);
    assert.equal(r.changed, false);
    assert.equal(t.ran.length, 1);
    assert.ok(f.status().entries.some((e) => e.project === "c"), JSON.stringify(f.status()));
    assert.equal(f.status().state, "applied");
    await f.forget("c");
    assert.ok(!f.status().entries.some((e) => e.project === "c"), JSON.stringify(f.status()));
    assert.equal(t.ran.length, 1);
  });

  it("any project saying off takes the table away; forgetting the last project takes it away too", async () => {
    const t = setup();
    const f = t.fw();
    await f.set(a);
    const off = await f.set({ ...b, enabled: false });
    assert.equal(off.status.state, "off");
    assert.equal(t.ran.at(-1), REMOVE_SCRIPT);
    await f.set(b);
    assert.equal(f.status().state, "applied");
    await f.forget("b");
    assert.deepEqual(f.status().addresses, ["10.0.0.1", "10.0.0.2"]);
    await f.forget("a");
    assert.equal(f.status().state, "none");
    assert.equal(t.ran.at(-1), REMOVE_SCRIPT);
  });

  it("a refused nft keeps the old word and says exit code and stderr; the next call tries again", async () => {
    let fail = false;
    const t = setup(async () => (fail ? { code: 1, stderr: "Error: Could not process rule: No such file or directory\n" } : { code: 0, stderr: "" }));
    const f = t.fw();
    await f.set(a);
    fail = true;
    await assert.rejects(f.set(b), (e: Error) => e instanceof FirewallError && /nft -f failed \(exit 1\): Error: Could not process rule/.test(e.message));
    assert.equal(f.status().state, "failed");
    assert.deepEqual(f.status().entries, [a]);
    assert.deepEqual((JSON.parse(readFileSync(t.file, "utf8")) as { entries: unknown[] }).entries, [a]);
    fail = false;
    assert.equal((await f.set(b)).status.state, "applied");
  });

  it("nft missing: putting a table in fails with the package to install; with nothing to put in, nothing is wrong", async () => {
    const t = setup(async () => ({ code: null, stderr: "nft is not installed on this machine (Debian's nftables package)", missing: true }));
    const f = t.fw();
    assert.equal(await f.reapply(), true);
    assert.equal(f.status().state, "none");
    await assert.rejects(f.set(a), /nft is not installed on this machine \(Debian's nftables package\)/);
  });

  it("an agent start applies the saved word again (a reboot empties the kernel), with the last gateway known when Docker does not answer", async () => {
    const t = setup();
    await t.fw().set(a);
    const again = new Firewall(t.file, new KeyedMutex(), () => {}, async (s) => (t.ran.push(s), { code: 0, stderr: "" }), async () => undefined);
    assert.equal(await again.reapply(), true);
    assert.equal(t.ran.at(-1), applyScript({ peers: a.addresses, gateways: ["172.17.0.1"] }));
    assert.equal(again.status().state, "applied");
  });

  it("desired: none without entries", () => {
    assert.deepEqual(desired([], []), { state: "none", script: REMOVE_SCRIPT, addresses: [] });
  });
});
