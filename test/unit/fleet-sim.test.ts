// The simulated fleet of bench/fleet-sim works: the real deploy and rollback (the Skiff API, the CLI's code)
// reach 20 simulated machines (the agent's real code over an in-memory runtime and HAProxy) through the
// in-process transport, and every machine ends where it should, with its instances serving in its HAProxy.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it, test } from "node:test";
import { Skiff } from "../../src/api/skiff.ts";
import type { SkiffConfig } from "../../src/api/config.ts";
import { backendName } from "../../src/proxy/model.ts";
import { connect } from "../../src/transport/connect.ts";
import { InProcessTransport } from "../../src/transport/in-process.ts";
import { SshTransport } from "../../src/transport/ssh.ts";
import { fleetConfig, simFleet, type SimFleet } from "../../bench/sim/fleet.ts";

const HELLO_NODE = new URL("../../examples/hello-node", import.meta.url).pathname;
const N = 20;
const spec = { name: "m3", host: "10.0.0.4", local: false, user: "root", sshOptions: {}, labels: [], httpPort: 80 };
const ctx = { knownHosts: "/dev/null", socketDir: tmpdir() };

test("without a simulated fleet, connect() is ssh again", () => {
  simFleet(1).close();
  assert.ok(connect(spec, ctx) instanceof SshTransport);
});

describe("the simulated fleet (bench/fleet-sim)", { timeout: 120_000 }, () => {
  let fleet: SimFleet;
  let dir: string;
  const open = (version: string) => Skiff.open({ config: fleetConfig(fleet, HELLO_NODE, version) as SkiffConfig, dir, env: {}, settings: { user: "test@fleet-sim" } });
  const actives = () => fleet.machines.map((m) => m.store.state("fleetsim", "web").active);
  /** Per machine: its active release's instances, each running in the runtime and ready in a primary HAProxy slot. */
  const serving = () =>
    fleet.machines.map((m) => {
      const st = m.store.state("fleetsim", "web");
      return st.instances.filter((i) => m.runtime.insts.get(i.name)?.running && m.core.proxy.slotOf(backendName("fleetsim", "web"), i.name)?.state === "ready").length;
    });

  before(() => {
    fleet = simFleet(N, { bootMs: 300 });
    dir = mkdtempSync(join(tmpdir(), "skiff-fleet-sim-test-"));
  });
  after(() => {
    fleet.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("connect() reaches the simulated machines while the fleet is up; a second fleet closed puts back the first", () => {
    assert.ok(connect(spec, ctx) instanceof InProcessTransport);
    simFleet(1).close();
    assert.ok(connect(spec, ctx) instanceof InProcessTransport);
  });

  it("a first deploy ships the artifact to every machine and starts one instance on each", async () => {
    const r = await (await open("v1")).deploy();
    assert.ok(r.ok, JSON.stringify(r.outcomes));
    assert.deepEqual(actives(), Array(N).fill(1));
    assert.deepEqual(serving(), Array(N).fill(1));
    assert.ok(fleet.machines.every((m) => m.runtime.artifacts.size === 1 && m.traffic.calls.get("activate") === 1), "shipped once and activated once per machine");
  });

  it("a new release reaches every machine; its health gate waited on simulated time, not wall time", async () => {
    const skipped = fleet.machines.map((m) => m.clock.skipped);
    const r = await (await open("v2")).deploy();
    assert.ok(r.ok, JSON.stringify(r.outcomes));
    assert.deepEqual(actives(), Array(N).fill(2));
    assert.deepEqual(serving(), Array(N).fill(1));
    assert.ok(fleet.machines.every((m, i) => m.clock.skipped - skipped[i]! >= 300), "each machine slept at least the simulated boot time");
  });

  it("a rollback returns every machine to release 1", async () => {
    const beats = () => fleet.machines.map((m) => m.traffic.calls.get("lock.heartbeat") ?? 0);
    const before = beats();
    const r = await (await open("v2")).rollback();
    assert.ok(r.ok, JSON.stringify(r.outcomes));
    // The lock, taken one round trip before the only wave, is confirmed once, after it: not again before it.
    assert.deepEqual(beats().map((b, i) => b - before[i]!), Array(N).fill(1));
    assert.deepEqual(actives(), Array(N).fill(1));
    assert.deepEqual(serving(), Array(N).fill(1));
    // Where its time went, every phase measured, together no more than the whole.
    const ph = r.phases!;
    assert.deepEqual(Object.keys(ph), ["lock", "plan", "rollout", "release"]);
    assert.ok(Object.values(ph).every((v) => Number.isInteger(v) && v >= 0), JSON.stringify(ph));
    assert.ok(ph.rollout > 0, "the rollout took time");
    assert.ok(ph.lock + ph.plan + ph.rollout + ph.release <= r.ms!, `${JSON.stringify(ph)} within ${r.ms} ms`);
  });
});
