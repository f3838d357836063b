// Deploy plans as data: a new app, an unchanged one, a changed env key, a
// changed secret (masked), an image still to build. No machine involved.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { planDeploy } from "../../src/plan/deploy.ts";
import { changeCount } from "../../src/plan/model.ts";
import { renderPlan } from "../../src/plan/render.ts";
import { deployed, empty, facts, IMAGE_ID, project, release } from "./plan-fixtures.ts";

describe("planDeploy", () => {
  it("a new app: release 1 everywhere, one instance per machine, the hook once on m1, one machine per batch", () => {
    const p = project();
    const plan = planDeploy(p, empty(), { apps: [], ...facts() });
    assert.deepEqual(plan, {
      action: "deploy",
      project: "shop",
      skipped: [],
      apps: [
        {
          app: "web",
          release: 1,
          reused: false,
          image: { ref: "nginx:1.27", runtime: "docker", id: IMAGE_ID, build: false },
          placement: { m1: 1, m2: 1 },
          machines: [
            { machine: "m1", from: null, start: 1, stop: 0, changes: [{ key: "release", note: "first release on this machine" }] },
            { machine: "m2", from: null, start: 1, stop: 0, changes: [{ key: "release", note: "first release on this machine" }] },
          ],
          hook: { machine: "m1", command: "migrate" },
          batches: [["m1"], ["m2"]],
          names: [{ change: "add", name: "web.internal", also: "web.shop.internal", protocol: "http" }],
        },
      ],
    });
    assert.equal(changeCount(plan), 2);
    assert.match(renderPlan(plan).join("\n"), /m1: nothing yet → new release: start 1 instance\n/);
    assert.ok(renderPlan(plan).includes("  + name web.internal (http; also web.shop.internal)"));
  });

  it("an unchanged app: the same release reused, nothing to do, no hook", () => {
    const p = project();
    const o = deployed(empty(), release(p, facts(), 4));
    const plan = planDeploy(p, o, { apps: ["web"], ...facts() });
    const web = plan.apps[0]!;
    assert.equal(web.release, 4);
    assert.equal(web.reused, true);
    assert.equal(web.hook, undefined);
    assert.deepEqual(web.machines.map((m) => [m.machine, m.from, m.changes, m.start, m.stop]), [["m1", 4, [], 0, 0], ["m2", 4, [], 0, 0]]);
    assert.equal(changeCount(plan), 0);
    assert.deepEqual(renderPlan(plan), ["web", "  m1: release 4, no changes", "  m2: release 4, no changes", "plan: nothing to do"]);
  });

  it("a changed env key: a new release numbered after the newest, the key old → new, instances replaced", () => {
    const before = project();
    const o = deployed(empty(), release(before, facts(), 4));
    const plan = planDeploy(project({ level: "debug" }), o, { apps: [], ...facts() });
    const web = plan.apps[0]!;
    assert.equal(web.release, 5);
    assert.equal(web.reused, false);
    assert.deepEqual(web.machines[0], { machine: "m1", from: 4, start: 1, stop: 1, changes: [{ key: "env.LEVEL", from: "info", to: "debug", note: undefined }] });
    assert.deepEqual(web.hook, { machine: "m1", command: "migrate" });
    assert.ok(renderPlan(plan).includes("    env.LEVEL: info → debug"));
  });

  it("a changed secret is named, never shown: not in the plan object, not in its text", () => {
    const p = project();
    const o = deployed(empty(), release(p, facts({ secret: "s3cr3t-one" }), 1));
    const plan = planDeploy(p, o, { apps: [], ...facts({ secret: "s3cr3t-two" }) });
    assert.deepEqual(plan.apps[0]!.machines[0]!.changes, [{ key: "secret DB_PASSWORD", note: "changed (value hidden)" }]);
    const text = JSON.stringify(plan) + renderPlan(plan).join("\n");
    assert.match(text, /secret DB_PASSWORD: changed \(value hidden\)/);
    assert.doesNotMatch(text, /s3cr3t/);
  });

  it("an image whose ID only the build decides: the number is 'new', and the hook runs", () => {
    const p = project();
    const o = deployed(empty(), release(p, facts(), 2));
    const plan = planDeploy(project({ build: true }), o, { apps: [], ...facts({ imageId: null }) });
    assert.equal(plan.apps[0]!.release, "new");
    assert.equal(plan.apps[0]!.image.build, true);
    assert.ok(plan.apps[0]!.hook);
  });

  it("images the machines already hold are not shipped (asked for printed plans only)", () => {
    const o = empty();
    o.machines[0]!.images = [IMAGE_ID];
    o.machines[1]!.images = [];
    const plan = planDeploy(project(), o, { apps: [], ...facts() });
    assert.deepEqual(plan.apps[0]!.image.present, ["m1"]);
    assert.ok(renderPlan(plan).includes("  ship: to m2"));
  });

  it("a placement that does not fit is refused before anything else", () => {
    assert.throws(() => planDeploy(project({ memory: "16G" }), empty(), { apps: [], ...facts() }), /cannot place web: web needs 2 instances of 16384 MiB; only 0 fit/);
  });
});
