// Scale, rollback and remove plans as data, from in-memory machine state.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { changeCount } from "../../src/plan/model.ts";
import { renderPlan } from "../../src/plan/render.ts";
import { planRemove } from "../../src/plan/remove.ts";
import { planRollback } from "../../src/plan/rollback.ts";
import { planScale } from "../../src/plan/scale.ts";
import { deployed, empty, entry, facts, project, release } from "./plan-fixtures.ts";

const meta = { by: "ana@laptop", createdAt: "2026-01-02T00:00:00.000Z" };

describe("planScale", () => {
  it("web=4: the active release with 4 instances placed 2 + 2, a release of its own, the count old → new", () => {
    const p = project();
    const o = deployed(empty(), release(p, facts(), 3));
    const plan = planScale(p, o, { targets: [{ app: "web", instances: 4 }], ...meta });
    const web = plan.apps[0]!;
    assert.deepEqual([web.from, web.to, web.release, web.reused, web.placement], [2, 4, 4, false, { m1: 2, m2: 2 }]);
    assert.deepEqual(web.machines[0], {
      machine: "m1", from: 3, start: 2, stop: 1,
      changes: [{ key: "instances", from: "2", to: "4" }, { key: "placement", from: '{"m1":1,"m2":1}', to: '{"m1":2,"m2":2}' }],
    });
    assert.equal(changeCount(plan), 2);
    assert.ok(!JSON.stringify(plan).includes("one"), "the secret value stays out of the plan");
  });

  it("back to the count a release already has: that release is reused", () => {
    const p = project();
    const o = deployed(deployed(empty(), release(p, facts(), 3)), { ...release(p, facts(), 4, { m1: 2, m2: 2 }) });
    const web = planScale(p, o, { targets: [{ app: "web", instances: 2 }], ...meta }).apps[0]!;
    assert.deepEqual([web.release, web.reused], [3, true]);
  });

  it("an app never deployed cannot be scaled", () => {
    assert.throws(() => planScale(project(), empty(), { targets: [{ app: "web", instances: 3 }], ...meta }), /web is not deployed yet: nothing to scale/);
  });
});

describe("planRollback", () => {
  const p = project();
  const three = () => deployed(deployed(deployed(empty(), release(p, facts(), 1)), release(project({ level: "debug" }), facts(), 2)), release(project({ level: "warn" }), facts(), 3));

  it("chooses the newest earlier release that served, and shows what goes back", () => {
    const o = three();
    for (const m of o.machines) m.history!.push(entry(m.machine, 2, { result: "failed" }));
    o.machines[0]!.history = o.machines[0]!.history!.filter((h) => h.release !== 2 || h.result !== "ok");
    o.machines[1]!.history = o.machines[1]!.history!.filter((h) => h.release !== 2 || h.result !== "ok");
    const plan = planRollback(p, o, { apps: [] });
    const web = plan.apps[0]!;
    assert.deepEqual([web.to, web.chosen], [1, "previous good"]);
    assert.deepEqual(web.machines[1], { machine: "m2", from: 3, start: 1, stop: 1, changes: [{ key: "env.LEVEL", from: "warn", to: "info", note: undefined }] });
    assert.deepEqual(web.batches, [["m1", "m2"]], "all machines at once unless told otherwise");
    assert.match(renderPlan(plan).join("\n"), /web → release 1 \(the one that served before\)\n  m1: release 3 → release 1: start 1 instance, stop 1\n    env.LEVEL: warn → info/);
  });

  it("after a rollback from 3 to 2 and a deploy of 4: back to 2, and the plan says 3 was left out", () => {
    const p = project();
    const o = three();
    for (const m of o.machines) m.history!.push(entry(m.machine, 2, { action: "rollback" }));
    deployed(o, release(p, facts(), 4));
    const plan = planRollback(p, o, { apps: [] });
    assert.deepEqual([plan.apps[0]!.to, plan.apps[0]!.passedOver], [2, [3]]);
    assert.match(renderPlan(plan).join("\n"), /^web → release 2 \(the one that served before; not 3: rolled back from\)$/m);
  });

  it("no release to go back to but those rolled back from: refused, with which and how to ask for one", () => {
    const p = project();
    const o = deployed(empty(), release(p, facts(), 3));
    for (const m of o.machines) m.served = { web: { releases: [1, 2, 3], rejected: { 1: "2026-01-01T00:00:00.000Z", 2: "2026-01-01T00:00:00.000Z" } } };
    assert.throws(() => planRollback(p, o, { apps: [] }), (e: Error & { hint?: string }) => /web: every earlier release that served was rolled back from \(1, 2; active: 3\)/.test(e.message) && /--to N/.test(e.hint ?? ""));
  });

  it("--to N as asked, batches of --max-parallel; a release a machine does not keep is refused", () => {
    const o = three();
    const plan = planRollback(p, o, { apps: ["web"], to: 2, maxParallel: 1 });
    assert.deepEqual([plan.apps[0]!.to, plan.apps[0]!.chosen, plan.apps[0]!.batches], [2, "asked", [["m1"], ["m2"]]]);
    o.machines[1]!.apps.web!.releases = [1, 3];
    assert.throws(() => planRollback(p, o, { apps: [], to: 2 }), /web: release 2 is not on m2 \(kept: 1, 2, 3\)/);
  });

  it("a machine already on the target changes nothing there", () => {
    const o = three();
    o.machines[0]!.apps.web!.active = 2;
    const web = planRollback(p, o, { apps: [], to: 2 }).apps[0]!;
    assert.deepEqual(web.machines[0], { machine: "m1", from: 2, start: 0, stop: 0, changes: [] });
  });

  it("never deployed: nothing to roll back to", () => {
    assert.throws(() => planRollback(p, empty(), { apps: [] }), /web has never been deployed here; nothing to roll back to/);
  });
});

describe("planRemove", () => {
  it("names what goes from each machine: instances, the active release, every release kept", () => {
    const p = project();
    const o = deployed(deployed(empty(), release(p, facts(), 1)), release(project({ level: "x" }), facts(), 2, { m1: 2, m2: 0 }));
    const plan = planRemove(p, o, { apps: ["web"] });
    const names = [{ change: "remove", name: "web.internal", also: "web.shop.internal", protocol: "http" }];
    assert.deepEqual(plan.apps, [{ app: "web", machines: [{ machine: "m1", active: 2, instances: 2, releases: [1, 2] }, { machine: "m2", active: 2, instances: 0, releases: [1, 2] }], names }]);
    assert.deepEqual(renderPlan(plan).slice(1, 4), ["  m1: stop 2 instances of release 2, delete releases 1, 2", "  m2: stop 0 instances of release 2, delete releases 1, 2", "  - name web.internal (http; also web.shop.internal)"]);
    assert.equal(changeCount(plan), 2);
    assert.equal(changeCount(planRemove(p, empty(), { apps: ["web"] })), 0);
  });
});
