// The setup planner as data: facts in, steps out. Facts come from a small builder.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { MachineFacts } from "../../src/machines/probe.ts";
import { agentBundle, agentWrapper, initScript, systemdUnit } from "../../src/plan/agent-files.ts";
import { describeStep, planSetup } from "../../src/plan/setup.ts";

const agent = agentBundle(Buffer.from("console.log('agent v2')"));

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
    sha: {},
    stateDir: false,
    agent: undefined,
    disk: { freeKb: 1e7, totalKb: 2e7 },
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
    node: { version: "v18.19.0", major: 18, path: "/usr/bin/node" },
    stateDir: true,
    sha: { agent: agent.sha256, agentBin: agentWrapper().sha256, init: initScript().sha256 },
    agent: { version: "0.1.0", sha256: agent.sha256, node: "v18.19.0", pid: 10, startedAt: "" },
    ...over,
  });

const steps = (f: MachineFacts, needsDocker = true) => planSetup(f, { agent, needsDocker }).steps.map(describeStep);

describe("planSetup", () => {
  it("a fresh Debian machine gets everything, in order", () => {
    assert.deepEqual(steps(facts()), [
      "install docker.io, haproxy, nodejs (apt)",
      "create /var/lib/skiff",
      "write agent (/var/lib/skiff/agent/skiff-agent.cjs)",
      "write agent command (/usr/local/bin/skiff-agent)",
      "write init script (/etc/init.d/skiff-agent)",
      "start the agent (supervised daemon)",
    ]);
  });

  it("a ready machine needs nothing", () => {
    assert.deepEqual(planSetup(ready(), { agent, needsDocker: true }), { steps: [], problems: [] });
  });

  it("the systemd unit restarts the agent alone, never the HAProxy it started", () => {
    const unit = systemdUnit().content.toString();
    assert.match(unit, /^Restart=always$/m);
    assert.match(unit, /^KillMode=process$/m);
  });

  it("systemd machines get a unit instead of an init script", () => {
    const f = ready({ systemd: true, sha: { agent: agent.sha256, agentBin: agentWrapper().sha256 } });
    assert.deepEqual(steps(f), ["write systemd unit (/etc/systemd/system/skiff-agent.service)", "restart the agent (systemd)"]);
    assert.deepEqual(steps({ ...f, sha: { ...f.sha, unit: systemdUnit().sha256 } }), []);
  });

  it("a new agent build is written and the agent restarted", () => {
    const old = ready({ sha: { agent: "old", agentBin: agentWrapper().sha256, init: initScript().sha256 }, agent: { version: "0.0.9", sha256: "old", node: "v18", pid: 1, startedAt: "" } });
    assert.deepEqual(steps(old), ["write agent (/var/lib/skiff/agent/skiff-agent.cjs)", "restart the agent (supervised daemon)"]);
  });

  it("an installed but stopped agent is started; a running stale one restarted", () => {
    assert.deepEqual(steps(ready({ agent: undefined })), ["start the agent (supervised daemon)"]);
    assert.deepEqual(steps(ready({ agent: { version: "x", sha256: "stale", node: "", pid: 1, startedAt: "" } })), ["restart the agent (supervised daemon)"]);
  });

  it("Docker is installed only when an app needs it, and started when installed but stopped", () => {
    assert.deepEqual(steps(facts(), false)[0], "install haproxy, nodejs (apt)");
    assert.deepEqual(steps(ready({ docker: { client: "20.10" } })), ["start Docker Engine"]);
    assert.deepEqual(steps(ready({ docker: { client: "20.10" } }), false), []);
  });

  it("refuses what it cannot do, with reasons", () => {
    assert.deepEqual(planSetup(facts({ apt: false, os: { id: "alpine", like: [], version: "3.20", name: "Alpine Linux v3.20" } }), { agent, needsDocker: true }), {
      steps: [],
      problems: ["Alpine Linux v3.20 is not Debian or Ubuntu: install docker.io, haproxy, nodejs yourself, then run setup again"],
    });
    assert.deepEqual(planSetup(ready({ node: { version: "v12.22.9", major: 12, path: "/usr/bin/node" } }), { agent, needsDocker: true }).problems, [
      "Node.js v12.22.9 at /usr/bin/node is too old for the agent (needs 18 or newer): upgrade it, then run setup again",
    ]);
  });

  it("Ubuntu and Debian derivatives use apt", () => {
    assert.equal(planSetup(facts({ os: { id: "ubuntu", like: ["debian"], version: "24.04", name: "Ubuntu 24.04" } }), { agent, needsDocker: true }).problems.length, 0);
    assert.equal(planSetup(facts({ os: { id: "raspbian", like: ["debian"], version: "12", name: "Raspbian" } }), { agent, needsDocker: true }).problems.length, 0);
  });
});
