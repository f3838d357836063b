// Rollout waves: the canary wave alone first, then max_parallel machines at a time (a count or a share), machines
// that run instances before those that only learn peers; a failed wave stops the rollout and returns what switched.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Event } from "../../src/contracts/events.ts";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadProject } from "../../src/config/load.ts";
import type { UserError } from "../../src/errors.ts";
import { rolloutWaves, waveSize } from "../../src/plan/model.ts";
import { clientWaves, rollout, type RolloutInput } from "../../src/exec/rollout.ts";
import { fleet, spec, type FakeMachine } from "./fake-machine.ts";

function loadConfigText(apps: string) {
  const dir = mkdtempSync(join(tmpdir(), "skiff-waves-"));
  writeFileSync(join(dir, "skiff.yml"), `project: shop\nmachines:\n  m1: { host: 10.0.0.1 }\n${apps}`);
  return loadProject({ file: join(dir, "skiff.yml") });
}

const names = (n: number) => Array.from({ length: n }, (_, i) => `m${i + 1}`);

describe("wave sizes", () => {
  it("a share is rounded up and never 0; a count is at most the fleet", () => {
    assert.equal(waveSize("25%", 20), 5);
    assert.equal(waveSize("25%", 3), 1);
    assert.equal(waveSize("50%", 3), 2);
    assert.equal(waveSize("1%", 3), 1);
    assert.equal(waveSize("100%", 7), 7);
    assert.equal(waveSize(4, 20), 4);
    assert.equal(waveSize(40, 20), 20);
    assert.equal(waveSize(3, 0), 1);
  });

  it("the default (50%, canary 1) on 3, 8 and 20 machines: one alone, then halves", () => {
    assert.deepEqual(rolloutWaves(names(3), "50%", 1), [["m1"], ["m2", "m3"]]);
    assert.deepEqual(rolloutWaves(names(8), "50%", 1).map((w) => w.length), [1, 4, 3]);
    assert.deepEqual(rolloutWaves(names(20), "50%", 1).map((w) => w.length), [1, 10, 9]);
  });

  it("max_parallel 1 is one machine at a time; canary 0 has no lone first wave", () => {
    assert.deepEqual(rolloutWaves(names(3), 1, 1), [["m1"], ["m2"], ["m3"]]);
    assert.deepEqual(rolloutWaves(names(4), "50%", 0), [["m1", "m2"], ["m3", "m4"]]);
    assert.deepEqual(rolloutWaves(names(1), "50%", 1), [["m1"]]);
  });

  it("the canary runs the app; machines placed to run none of it go last", () => {
    const runs = (m: string) => m !== "m1" && m !== "m2";
    assert.deepEqual(rolloutWaves(names(5), "50%", 1, runs), [["m3"], ["m4", "m5", "m1"], ["m2"]]);
    // No machine runs it (a scale to 0): no canary to speak of.
    assert.deepEqual(rolloutWaves(names(3), "50%", 1, () => false), [["m1", "m2"], ["m3"]]);
  });

  it("every machine is in exactly one wave, in any configuration", () => {
    for (let n = 1; n <= 30; n++) {
      for (const max of [1, 2, 5, "10%", "25%", "50%", "100%"] as const) {
        for (const canary of [0, 1, 2]) {
          const w = rolloutWaves(names(n), max, canary, (m) => Number(m.slice(1)) % 3 !== 0);
          assert.deepEqual(w.flat().sort(), names(n).sort(), `n=${n} max=${max} canary=${canary}`);
          assert.ok(w.every((x) => x.length >= 1));
        }
      }
    }
  });
});

describe("max_parallel in skiff.yml", () => {
  it('takes a count or a share such as "25%"; the default is 50% after a canary of 1', () => {
    const p = loadConfigText("apps:\n  web: { image: nginx, deploy: { max_parallel: '25%', canary: 2 } }\n  api: { image: nginx }\n");
    assert.deepEqual([p.apps.web!.deploy.maxParallel, p.apps.web!.deploy.canary], ["25%", 2]);
    assert.deepEqual([p.apps.api!.deploy.maxParallel, p.apps.api!.deploy.canary], ["50%", 1]);
  });

  for (const bad of ["0%", "150%", "abc", "25", 0]) {
    it(`refuses max_parallel ${JSON.stringify(bad)} with its place in the file`, () => {
      assert.throws(
        () => loadConfigText(`apps:\n  web: { image: nginx, deploy: { max_parallel: ${JSON.stringify(bad)} } }\n`),
        (e: UserError) => e.diagnostics.length === 1 && e.diagnostics[0]!.line === 5 && /max_parallel: must be (at least 1|a whole number of machines or a share such as "25%")/.test(e.diagnostics[0]!.message),
      );
    });
  }
});

const machine = fleet("skiff-waves-test-");
const quiet = { emit() {} };

function threeOnOne(ms: FakeMachine[]) {
  for (const m of ms) {
    m.store.putRelease(spec("shop", "web", 1));
    m.store.putRelease(spec("shop", "web", 2));
  }
}

const input = (ms: FakeMachine[], over: Partial<RolloutInput>): RolloutInput => ({
  project: "shop", app: "web", target: 2, previous: new Map(ms.map((m) => [m.name, 1])), clients: ms.map((m) => m.client),
  action: "deploy", deployId: "d", by: "test", keepWarm: false, reporter: quiet, interrupted: () => false, ...over,
});

describe("rollout in waves", () => {
  it("runs the plan's waves in order, each wave's machines together, and reports each wave", async () => {
    const ms = ["m1", "m2", "m3", "m4"].map((n) => machine(n));
    threeOnOne(ms);
    for (const m of ms) assert.equal((await m.core.activate({ project: "shop", app: "web", release: 1, machine: m.name, action: "deploy", bindAddress: "127.0.0.1" })).ok, true);
    const events: Event[] = [];
    const r = await rollout(input(ms, { waves: [["m2"], ["m1", "m3", "m4"]], reporter: { emit: (e) => void events.push(e) } }));
    assert.equal(r.ok, true, r.failure?.reason);
    assert.deepEqual(r.waves.map((w) => w.machines), [["m2"], ["m1", "m3", "m4"]]);
    const waves = events.filter((e) => e.type === "wave");
    assert.deepEqual(waves.map((e) => `${e.index}/${e.total} ${e.status}${e.canary ? " canary" : ""}`), ["1/2 start canary", "1/2 ok canary", "2/2 start", "2/2 ok"]);
    // The second wave's activations overlapped: each started before any of them finished.
    const steps = events.filter((e) => e.type === "step" && e.machine !== "m2");
    const firstDone = steps.findIndex((e) => e.type === "step" && e.status !== "start");
    assert.equal(steps.slice(0, firstDone).length, 3, "all three started before the first finished");
    for (const m of ms) assert.equal(m.store.state("shop", "web").active, 2);
  });

  it("a canary that fails its start stops the rollout: no other machine is touched", async () => {
    const ms = ["m1", "m2", "m3"].map((n) => machine(n));
    threeOnOne(ms);
    for (const m of ms) assert.equal((await m.core.activate({ project: "shop", app: "web", release: 1, machine: m.name, action: "deploy", bindAddress: "127.0.0.1" })).ok, true);
    const start = ms[0]!.runtime.start.bind(ms[0]!.runtime);
    const two = spec("shop", "web", 2).imageId;
    ms[0]!.runtime.start = async (s) => (s.image === two ? Promise.reject(new Error("exec format error")) : start(s));
    const r = await rollout(input(ms, { waves: [["m1"], ["m2", "m3"]] }));
    assert.equal(r.ok, false);
    assert.equal(r.failure!.machine, "m1");
    assert.match(r.failure!.reason, /could not start an instance: exec format error/);
    assert.deepEqual(r.waves.map((w) => [w.machines, w.ok]), [[["m1"], false]]);
    assert.deepEqual(ms.map((m) => m.store.state("shop", "web").active), [1, 1, 1]);
    assert.equal(ms[1]!.runtime.started.filter((s) => s.image === spec("shop", "web", 2).imageId).length, 0, "m2 never started release 2");
  });

  it("a machine the plan did not name still gets its activation, in a last wave", () => {
    const clients = ["a", "b", "c"].map((machine) => ({ machine })) as unknown as RolloutInput["clients"];
    assert.deepEqual(clientWaves({ clients, waves: [["b"], ["a"]] }).map((w) => w.map((c) => c.machine)), [["b"], ["a"], ["c"]]);
    assert.deepEqual(clientWaves({ clients, maxParallel: 2 }).map((w) => w.map((c) => c.machine)), [["a", "b"], ["c"]]);
  });
});

describe("the plan's rollout line", () => {
  it("names the canary wave and the number of waves", async () => {
    const { renderPlan } = await import("../../src/plan/render.ts");
    const lines = renderPlan({
      action: "scale", project: "shop", skipped: [],
      apps: [{ app: "web", from: 3, to: 3, release: 4, reused: false, placement: { m1: 1, m2: 1, m3: 1 }, batches: [["m1"], ["m2", "m3"]], machines: [{ machine: "m1", from: 3, start: 1, stop: 1, changes: [{ key: "instances", from: "2", to: "3" }] }] }],
    });
    assert.ok(lines.includes("  rollout: m1 (canary) | m2, m3 (2 waves, one after another)"), lines.join("\n"));
  });
});
