// deploy.canary_wait: the canary wave's new instances are watched before the next
// wave; one that stops, restarts or turns unhealthy meanwhile ends the rollout.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Event } from "../../src/contracts/events.ts";
import type { AppView } from "../../src/contracts/rpc.ts";
import { loadProject } from "../../src/config/load.ts";
import type { UserError } from "../../src/errors.ts";
import { canaryProblem, watchCanary } from "../../src/exec/canary.ts";
import type { AgentClient } from "../../src/transport/agent-client.ts";
import { rollout, type RolloutInput } from "../../src/exec/rollout.ts";
import { renderPlan } from "../../src/plan/render.ts";
import { fleet, spec, type FakeMachine } from "./fake-machine.ts";

const machine = fleet("skiff-canary-test-");

function ready(ms: FakeMachine[]) {
  for (const m of ms) {
    m.store.putRelease(spec("shop", "web", 1));
    m.store.putRelease(spec("shop", "web", 2));
  }
}

const input = (ms: FakeMachine[], events: Event[], over: Partial<RolloutInput>): RolloutInput => ({
  project: "shop", app: "web", target: 2, previous: new Map(ms.map((m) => [m.name, 1])), clients: ms.map((m) => m.client), waves: [["m1"], ["m2", "m3"]],
  action: "deploy", deployId: "d", by: "test", keepWarm: false, reporter: { emit: (e: Event) => void events.push(e) }, interrupted: () => false, ...over,
});

async function onRelease1(ms: FakeMachine[]) {
  ready(ms);
  for (const m of ms) assert.equal((await m.core.activate({ project: "shop", app: "web", release: 1, machine: m.name, action: "deploy", bindAddress: "127.0.0.1" })).ok, true);
}

describe("canary_wait in a rollout", () => {
  it("watches the canary, then goes on when it stays healthy", async () => {
    const ms = ["m1", "m2", "m3"].map((n) => machine(n));
    await onRelease1(ms);
    const events: Event[] = [];
    const t0 = Date.now();
    const r = await rollout(input(ms, events, { canaryWaitMs: 600 }));
    assert.equal(r.ok, true, r.failure?.reason);
    assert.ok(Date.now() - t0 >= 600, "the next wave waited for the watch");
    assert.ok(events.some((e) => e.type === "note" && /watching the canary \(m1\) for 0\.6s/.test(e.message)));
    assert.deepEqual(ms.map((m) => m.store.state("shop", "web").active), [2, 2, 2]);
  });

  it("a canary instance that stops during the wait ends the rollout: the canary goes back, no other machine is touched", async () => {
    const ms = ["m1", "m2", "m3"].map((n) => machine(n));
    await onRelease1(ms);
    const events: Event[] = [];
    const two = spec("shop", "web", 2).imageId;
    const inp = input(ms, events, { canaryWaitMs: 5000 });
    inp.reporter = {
      emit: (e: Event) => {
        events.push(e);
        // The canary switched: its new instance falls over a moment later.
        if (e.type === "step" && e.machine === "m1" && e.status === "ok" && /release 2 serving/.test(e.step)) {
          const name = ms[0]!.runtime.started.find((s) => s.image === two)!.name;
          setTimeout(() => void ms[0]!.runtime.stop(name), 200);
        }
      },
    };
    const t0 = Date.now();
    const r = await rollout(inp);
    assert.equal(r.ok, false);
    assert.equal(r.failure!.machine, "m1");
    assert.match(r.failure!.reason, /^canary: instance \S+-web-2-\S+ stopped during the canary wait/);
    assert.ok(Date.now() - t0 < 4000, "the watch ended at the first problem, not after the whole wait");
    assert.deepEqual(ms.map((m) => m.store.state("shop", "web").active), [1, 1, 1], "the canary is back on release 1");
    for (const m of ms.slice(1)) assert.equal(m.runtime.started.filter((s) => s.image === two).length, 0, `${m.name} never started release 2`);
    assert.deepEqual(r.reverted.map((x) => [x.machine, x.to, x.ok]), [["m1", 1, true]]);
  });

  it("no watch without canary_wait, and none when there is no canary wave", async () => {
    const ms = ["m1", "m2", "m3"].map((n) => machine(n));
    await onRelease1(ms);
    const events: Event[] = [];
    const r = await rollout(input(ms, events, { canaryWaitMs: 5000, waves: [["m1", "m2", "m3"]] }));
    assert.equal(r.ok, true);
    assert.ok(!events.some((e) => e.type === "note" && /watching the canary/.test(e.message)));
  });
});

describe("canaryProblem", () => {
  const view = (over: Partial<AppView["instances"][number]> = {}, active = 2): AppView => ({
    project: "shop", app: "web", active, releases: [1, 2], warm: [],
    instances: [{ name: "web-2-a", release: 2, hostPort: 5000, startedAt: "", restarts: 0, running: true, healthy: true, health: "ok", slotState: "ready", ...over }],
  });
  const seen = new Map([["web-2-a", 0]]);
  it("is nothing while the instances run, healthy and unrestarted", () => assert.equal(canaryProblem("m1", view(), 2, seen), undefined));
  it("names a restart with the last exit", () =>
    assert.match(canaryProblem("m1", view({ restarts: 1, lastExit: { code: 1, oomKilled: false, at: "", reason: "exited with code 1" } }), 2, seen)!.reason, /restarted 1 time\(s\) during the canary wait \(exited with code 1\)/));
  it("names failed health checks", () => assert.match(canaryProblem("m1", view({ healthy: false, health: "HTTP 500" }), 2, seen)!.reason, /failed its health checks .*HTTP 500/));
  it("an instance without a health record yet (its agent restarted) is not a problem", () => assert.equal(canaryProblem("m1", view({ healthy: false, health: "unknown" }), 2, seen), undefined));
  it("names a gone instance and another active release", () => {
    assert.match(canaryProblem("m1", view({ name: "web-2-b" }), 2, seen)!.reason, /web-2-a of release 2 is gone/);
    assert.match(canaryProblem("m1", view({}, 3), 2, seen)!.reason, /no longer the active one \(active: 3\)/);
  });
});

describe("canary_wait in skiff.yml", () => {
  const load = (deploy: string) => {
    const dir = mkdtempSync(join(tmpdir(), "skiff-canary-cfg-"));
    writeFileSync(join(dir, "skiff.yml"), `project: shop\nmachines:\n  m1: { host: 10.0.0.1 }\napps:\n  web:\n    image: nginx\n    deploy: ${deploy}\n`);
    return loadProject({ file: join(dir, "skiff.yml") });
  };
  it("takes a duration; the default is no watch", () => {
    assert.equal(load("{ canary_wait: 30s }").apps.web!.deploy.canaryWaitMs, 30_000);
    assert.equal(load("{ canary: 1 }").apps.web!.deploy.canaryWaitMs, 0);
  });
  it("refuses more than an hour with its place in the file", () =>
    assert.throws(() => load("{ canary_wait: 2h }"), (e: UserError) => e.diagnostics.length === 1 && e.diagnostics[0]!.line === 7 && /canary_wait: must be between 0s and 1h/.test(e.diagnostics[0]!.message)));
  it("the plan says how long the canary is watched", () => {
    const lines = renderPlan({
      action: "deploy", project: "shop", skipped: [],
      apps: [{ app: "web", release: 2, reused: false, image: { ref: "img:2" }, placement: { m1: 1, m2: 1 }, canaryWaitMs: 30_000, batches: [["m1"], ["m2", "m3"]], machines: [{ machine: "m1", from: 1, start: 1, stop: 1, changes: [{ key: "image", from: "img:1", to: "img:2" }] }] }],
    } as unknown as Parameters<typeof renderPlan>[0]);
    assert.ok(lines.includes("  rollout: m1 (canary, watched 30s) | m2, m3 (2 waves, one after another)"), lines.join("\n"));
  });
});

describe("watchCanary", () => {
  /** A canary machine whose instance's health, look after look, is the next value of `healths` (then the last one). */
  const canary = (healths: boolean[]) => {
    let n = 0;
    return {
      machine: "m1",
      call: async () => {
        const healthy = healths[Math.min(n++, healths.length - 1)]!;
        return { apps: [{ project: "shop", app: "web", active: 2, releases: [2], warm: [], instances: [{ name: "web-2-a", release: 2, hostPort: 1, startedAt: "", restarts: 0, running: true, healthy, health: healthy ? "ok" : "HTTP 500", slotState: "ready" }] }] };
      },
    } as unknown as AgentClient;
  };
  it("one failed look is a slow answer, not a broken release", async () => {
    assert.equal(await watchCanary([canary([true, false, true])], "shop", "web", 2, 1500, async () => false), undefined);
  });
  it("failing its checks look after look ends the watch, even past the wait", async () => {
    const p = await watchCanary([canary([true, true, false])], "shop", "web", 2, 1200, async () => false);
    assert.match(p!.reason, /failed its health checks during the canary wait \(HTTP 500\), 3 looks in a row/);
  });
});
