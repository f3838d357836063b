// The setup planner as data: facts in, steps out. Facts come from a small builder.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { MachineFacts } from "../../src/machines/probe.ts";
import { agentBundle, agentWrapper, initScript, systemdUnit } from "../../src/plan/agent-files.ts";
import { describeStep, planSetup, type NodeRuntime } from "../../src/plan/setup.ts";

const agent = agentBundle(Buffer.from("console.log('agent v2')"));
const node: NodeRuntime = { source: "the CLI's own, /usr/bin/node", version: "v20.20.2", sha256: "n0de", bytes: 99e6, arch: "x86_64", glibc: "2.28", glibcxx: "3.4.21" };
const want = (over: Partial<NodeRuntime> = {}, needsDocker = true) => ({ agent, node: { ...node, ...over }, needsDocker });

function facts(over: Partial<MachineFacts> = {}): MachineFacts {
  return {
    os: { id: "debian", like: [], version: "12", name: "Debian GNU/Linux 12 (bookworm)" },
    arch: "x86_64",
    systemd: false,
    root: true,
    apt: true,
    docker: undefined,
    haproxy: undefined,
    node: undefined,
    libc: { glibc: "2.36", glibcxx: "3.4.30" },
    sha: {},
    stateDir: false,
    agent: undefined,
    disk: { freeKb: 1e7, totalKb: 2e7, inodesFree: 6e5, inodesTotal: 1e6 },
    memory: { totalKb: 4e6, availKb: 3e6 },
    cpus: 2,
    ...over,
  };
}

/** A machine where a previous setup finished with `agent`. */
const ready = (over: Partial<MachineFacts> = {}) =>
  facts({
    docker: { client: "20.10", server: "20.10" },
    haproxy: "2.6.12",
    node: { version: "v20.20.2", major: 20, path: "/var/lib/skiff/node/bin/node" },
    stateDir: true,
    sha: { agent: agent.sha256, agentBin: agentWrapper().sha256, init: initScript().sha256, node: node.sha256 },
    agent: { version: "0.1.0", sha256: agent.sha256, node: "v20.20.2", pid: 10, startedAt: "" },
    ...over,
  });

const steps = (f: MachineFacts, needsDocker = true) => planSetup(f, want({}, needsDocker)).steps.map(describeStep);

describe("planSetup", () => {
  it("a fresh Debian machine gets everything, in order", () => {
    assert.deepEqual(steps(facts()), [
      "install docker.io, haproxy (apt)",
      "install the agent's Node runtime v20.20.2 (99 MB)",
      "create /var/lib/skiff",
      "write agent (/var/lib/skiff/agent/skiff-agent.cjs)",
      "write agent command (/usr/local/bin/skiff-agent)",
      "write init script (/etc/init.d/skiff-agent)",
      "start the agent (supervised daemon)",
    ]);
  });

  it("a ready machine needs nothing", () => {
    assert.deepEqual(planSetup(ready(), want()), { steps: [], problems: [] });
  });

  it("the systemd unit restarts the agent alone, never the HAProxy it started", () => {
    const unit = systemdUnit().content.toString();
    assert.match(unit, /^Restart=always$/m);
    assert.match(unit, /^KillMode=process$/m);
  });

  it("systemd machines get a unit instead of an init script", () => {
    const f = ready({ systemd: true, sha: { agent: agent.sha256, agentBin: agentWrapper().sha256, node: node.sha256 } });
    assert.deepEqual(steps(f), ["write systemd unit (/etc/systemd/system/skiff-agent.service)", "restart the agent (systemd)"]);
    assert.deepEqual(steps({ ...f, sha: { ...f.sha, unit: systemdUnit().sha256 } }), []);
  });

  it("a new agent build is written and the agent restarted", () => {
    const old = ready({ sha: { agent: "old", agentBin: agentWrapper().sha256, init: initScript().sha256, node: node.sha256 }, agent: { version: "0.0.9", sha256: "old", node: "v20.20.2", pid: 1, startedAt: "" } });
    assert.deepEqual(steps(old), ["write agent (/var/lib/skiff/agent/skiff-agent.cjs)", "restart the agent (supervised daemon)"]);
  });

  it("an installed but stopped agent is started; a running stale one restarted", () => {
    assert.deepEqual(steps(ready({ agent: undefined })), ["start the agent (supervised daemon)"]);
    assert.deepEqual(steps(ready({ agent: { version: "x", sha256: "stale", node: "", pid: 1, startedAt: "" } })), ["restart the agent (supervised daemon)"]);
  });

  it("Docker is installed only when an app needs it, and started when installed but stopped", () => {
    assert.deepEqual(steps(facts(), false)[0], "install haproxy (apt)");
    assert.deepEqual(steps(ready({ docker: { client: "20.10" } })), ["start Docker Engine"]);
    assert.deepEqual(steps(ready({ docker: { client: "20.10" } }), false), []);
  });

  it("refuses what it cannot do, with reasons", () => {
    assert.deepEqual(planSetup(facts({ apt: false, os: { id: "alpine", like: [], version: "3.20", name: "Alpine Linux v3.20" } }), want({ glibc: undefined, glibcxx: undefined })), {
      steps: [],
      problems: ["Alpine Linux v3.20 is not Debian or Ubuntu: install docker.io, haproxy yourself, then run setup again"],
    });
  });

  it("the agent's Node runtime is shipped unless the machine has that very file; a machine's own old Node no longer matters", () => {
    // Ubuntu 22.04's Node 12 on PATH: the agent runs on skiff's runtime instead.
    const ubuntu = facts({ os: { id: "ubuntu", like: ["debian"], version: "22.04", name: "Ubuntu 22.04.4 LTS" }, node: { version: "v12.22.9", major: 12, path: "/usr/bin/node" }, libc: { glibc: "2.35", glibcxx: "3.4.30" } });
    assert.deepEqual(planSetup(ubuntu, want()).problems, []);
    assert.ok(steps(ubuntu).includes("install the agent's Node runtime v20.20.2 (99 MB)"));
    // A new runtime (another hash): shipped, the old one kept until the agent answers, and the agent restarted on it.
    assert.deepEqual(planSetup(ready(), want({ sha256: "newer", version: "v22.1.0" })).steps.map((s) => (s.kind === "install-node" ? `${s.kind} replaces=${s.replaces}` : s.kind)), ["install-node replaces=true", "start-agent"]);
    // An agent still running on the machine's own Node is restarted on skiff's.
    assert.deepEqual(steps(ready({ agent: { version: "0.1.0", sha256: agent.sha256, node: "v18.19.0", pid: 1, startedAt: "" } })), ["restart the agent (supervised daemon)"]);
  });

  it("a runtime the machine cannot run is refused before anything is copied, with a hint", () => {
    const hint = "set SKIFF_AGENT_NODE to a Linux Node binary that fits (nodejs.org's linux-x64 or linux-arm64 build), then run setup again";
    const problems = (f: MachineFacts, over: Partial<NodeRuntime> = {}) => planSetup(f, want(over)).problems;
    assert.deepEqual(problems(facts({ arch: "aarch64" })), [`the agent's Node runtime (v20.20.2, the CLI's own, /usr/bin/node) is built for x86_64, this machine is aarch64: ${hint}`]);
    assert.deepEqual(problems(facts({ libc: { glibc: "2.27" } })), [`the agent's Node runtime (v20.20.2, the CLI's own, /usr/bin/node) needs glibc 2.28; Debian GNU/Linux 12 (bookworm) has 2.27: ${hint}`]);
    assert.deepEqual(problems(facts({ libc: undefined })), [`the agent's Node runtime (v20.20.2, the CLI's own, /usr/bin/node) needs glibc 2.28; Debian GNU/Linux 12 (bookworm) has none (musl?): ${hint}`]);
    assert.deepEqual(problems(facts({ libc: { glibc: "2.36", glibcxx: "3.4.19" } })), [`the agent's Node runtime (v20.20.2, the CLI's own, /usr/bin/node) needs libstdc++ GLIBCXX_3.4.21; Debian GNU/Linux 12 (bookworm) has GLIBCXX_3.4.19: ${hint}`]);
    assert.deepEqual(problems(facts(), { problem: "the agent's Node runtime /opt/node cannot run on a Linux machine: not an ELF executable (not built for Linux)" }), [
      `the agent's Node runtime /opt/node cannot run on a Linux machine: not an ELF executable (not built for Linux): ${hint}`,
    ]);
    // A machine that already has the runtime does not care where the CLI runs now.
    assert.deepEqual(problems(ready(), { problem: "macOS" , sha256: node.sha256 }), []);
    assert.deepEqual(problems(facts({ disk: { freeKb: 150_000, totalKb: 1e6, inodesFree: 1e4, inodesTotal: 6e4 } })), [
      "the agent's Node runtime (v20.20.2, the CLI's own, /usr/bin/node) needs 189 MB free under /var/lib/skiff; the machine has 146 MB: free some space, then run setup again",
    ]);
  });

  it("from a computer whose Node cannot run on Linux, a machine keeps its own Node (at least 18), with a note", () => {
    const mac = want({ problem: "the agent's Node runtime /usr/local/bin/node cannot run on a Linux machine: not an ELF executable (a Mach-O file: macOS)", sha256: "mac0", version: "v22.11.0" });
    // Debian's nodejs 18: kept, nothing shipped; the agent starts on it.
    const deb = facts({ node: { version: "v18.19.0", major: 18, path: "/usr/bin/node" } });
    const p = planSetup(deb, mac);
    assert.deepEqual(p.problems, []);
    assert.ok(!p.steps.some((s) => s.kind === "install-node"), "no runtime is shipped");
    assert.deepEqual(p.notes, ["the agent runs on the machine's own Node (/usr/bin/node), v18.19.0, because the agent's Node runtime /usr/local/bin/node cannot run on a Linux machine: not an ELF executable (a Mach-O file: macOS); set SKIFF_AGENT_NODE to a Linux Node binary to ship the same runtime to every machine"]);
    // A machine set up from Linux before keeps skiff's runtime and its running agent.
    const linuxBefore = ready({ sha: { agent: agent.sha256, agentBin: agentWrapper().sha256, init: initScript().sha256, node: "linux-n0de" } });
    const q = planSetup(linuxBefore, mac);
    assert.deepEqual([q.problems, q.steps], [[], []]);
    assert.match(q.notes![0]!, /^the agent runs on skiff's Node runtime from an earlier setup, v20\.20\.2, because/);
    // Ubuntu 22.04's Node 12, or none: refused with the hint.
    for (const f of [facts({ node: { version: "v12.22.9", major: 12, path: "/usr/bin/node" } }), facts()]) assert.match(planSetup(f, mac).problems[0]!, /Mach-O file: macOS\): set SKIFF_AGENT_NODE to a Linux Node binary/);
    // A runtime someone named in SKIFF_AGENT_NODE is refused, not replaced by the machine's.
    assert.match(planSetup(deb, want({ problem: "the agent's Node runtime /opt/node cannot run on a Linux machine: not an ELF executable (not built for Linux)", chosen: true })).problems[0]!, /not built for Linux\): set SKIFF_AGENT_NODE/);
    // From Linux nothing changes: the CLI's own runtime is shipped, whatever the machine has.
    assert.ok(steps(deb).includes("install the agent's Node runtime v20.20.2 (99 MB)"));
  });

  it("a machine without libstdc++ gets it from apt, with HAProxy", () => {
    assert.equal(steps(facts({ libc: { glibc: "2.36" } }), false)[0], "install haproxy, libstdc++6 (apt)");
  });

  it("Ubuntu and Debian derivatives use apt", () => {
    assert.equal(planSetup(facts({ os: { id: "ubuntu", like: ["debian"], version: "24.04", name: "Ubuntu 24.04" } }), want()).problems.length, 0);
    assert.equal(planSetup(facts({ os: { id: "raspbian", like: ["debian"], version: "12", name: "Raspbian" } }), want()).problems.length, 0);
  });
});
