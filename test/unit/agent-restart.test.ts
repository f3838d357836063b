// skiff restart on one machine: activation with action "restart" starts new
// instances of the release already active (start-first, gated), moves the old
// ones out of traffic, and records "restart"; where another release is active,
// or the new instances fail their gate, nothing changes.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { historyOf, memAgent } from "./agent-fakes.ts";

describe("activation for a restart", () => {
  it("new instances of the active release take the traffic; the old ones leave it; recorded as restart", async () => {
    const a = memAgent();
    await a.deploy(1);
    const old = a.store.state("shop", "web").instances.map((i) => i.name);
    const r = await a.deploy(1, { action: "restart", deployId: "d1", by: "ana" });
    assert.equal(r.ok, true, r.reason);
    assert.equal(r.changed, true);
    const st = a.store.state("shop", "web");
    assert.equal(st.active, 1);
    assert.equal(st.instances.length, old.length);
    assert.ok(st.instances.every((i) => !old.includes(i.name) && i.release === 1), "all new");
    assert.deepEqual(a.proxy.serving(), st.instances.map((i) => i.name));
    assert.deepEqual(st.warm.map((i) => i.name), old, "the old ones out of traffic, warm for the probation");
    assert.deepEqual(historyOf(a), ["deploy 1 ok", "restart 1 ok"]);
    assert.equal(a.store.history({ project: "shop", app: "web" }).at(-1)!.deployId, "d1");
  });

  it("a second restart does not reuse the warm instances of the first", async () => {
    const a = memAgent();
    await a.deploy(1);
    await a.deploy(1, { action: "restart" });
    const before = [...a.store.state("shop", "web").instances, ...a.store.state("shop", "web").warm].map((i) => i.name);
    await a.deploy(1, { action: "restart" });
    assert.ok(a.store.state("shop", "web").instances.every((i) => !before.includes(i.name)));
  });

  it("refused where another release is active (a deploy came in between); nothing changes", async () => {
    const a = memAgent();
    await a.deploy(1);
    await a.deploy(2);
    const serving = a.proxy.serving();
    const r = await a.deploy(1, { action: "restart" });
    assert.equal(r.ok, false);
    assert.equal(r.changed, false);
    assert.match(r.reason!, /release 2 is active here, not 1/);
    assert.deepEqual(a.proxy.serving(), serving);
  });

  it("new instances that fail their gate are removed; the old ones keep serving", async () => {
    const a = memAgent();
    await a.deploy(1);
    const old = a.store.state("shop", "web").instances.map((i) => i.name);
    a.runtime.programs.set(1, { exitAtStart: 2 });
    const r = await a.deploy(1, { action: "restart" });
    assert.equal(r.ok, false);
    assert.deepEqual(a.store.state("shop", "web").instances.map((i) => i.name), old);
    assert.deepEqual(a.proxy.serving(), old);
    assert.match(historyOf(a).at(-1)!, /^restart 1 failed: instance .* exited with code 2/);
  });
});
