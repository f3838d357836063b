// An accessory on its machine, with in-memory effects: a new release is started only after the old one stopped
// (one owner of the data at a time), a failed one brings the old back, and a held one stays stopped.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { historyOf, memAgent, type MemAgent } from "./agent-fakes.ts";

/** Records stop and start calls in order. */
function order(a: MemAgent): string[] {
  const seen: string[] = [];
  const stop = a.runtime.stop.bind(a.runtime);
  const start = a.runtime.start.bind(a.runtime);
  const restart = a.runtime.restart.bind(a.runtime);
  a.runtime.stop = async (name: string) => (seen.push(`stop ${name}`), stop(name));
  a.runtime.start = async (s) => (seen.push(`start ${s.name}`), start(s));
  a.runtime.restart = async (name: string) => (seen.push(`restart ${name}`), restart(name));
  return seen;
}

const stopFirst = { stopFirst: true as const, probationMs: 0, drainMs: 0 };
const tick = () => new Promise((r) => setImmediate(r));

describe("accessory: stop-first", () => {
  it("the old instance stops before the new one starts; it is removed after, never kept warm", async () => {
    const a = memAgent();
    await a.deploy(1, {}, stopFirst);
    const [old] = a.store.state("shop", "web").instances.map((i) => i.name);
    const seen = order(a);
    const r = await a.deploy(2, {}, stopFirst);
    assert.equal(r.ok, true);
    const st = a.store.state("shop", "web");
    const [now] = st.instances.map((i) => i.name);
    assert.deepEqual(seen.slice(0, 2), [`stop ${old}`, `start ${now}`]);
    assert.deepEqual(st.warm, []);
    assert.deepEqual(a.proxy.serving(), [now]);
    assert.deepEqual(a.proxy.backups(), [], "no backup slot: the old one is stopped");
    assert.equal(typeof r.phases?.stopOld, "number");
    await tick();
    assert.deepEqual(a.runtime.of(1), [], "the old instance is removed");
    assert.deepEqual(historyOf(a), ["deploy 1 ok", "deploy 2 ok"]);
  });

  it("a new release that fails: the old instance starts again and serves; the record says so", async () => {
    const a = memAgent();
    await a.deploy(1, {}, stopFirst);
    const [old] = a.store.state("shop", "web").instances.map((i) => i.name);
    a.runtime.programs.set(2, { exitAtStart: 1 });
    const seen = order(a);
    const r = await a.deploy(2, {}, stopFirst);
    assert.equal(r.ok, false);
    assert.equal(r.changed, false);
    assert.match(r.reason!, /exited with code 1 before becoming healthy; release 1 started again$/);
    assert.equal(seen[0], `stop ${old}`);
    assert.ok(seen.includes(`restart ${old}`), seen.join(", "));
    const st = a.store.state("shop", "web");
    assert.equal(st.active, 1);
    assert.deepEqual(st.instances.map((i) => i.name), [old]);
    assert.deepEqual(a.proxy.serving(), [old]);
    assert.deepEqual(a.runtime.of(2), [], "the failed instance is removed");
    assert.match(historyOf(a)[1]!, /^deploy 2 failed: .*release 1 started again$/);
  });

  it("an app (no stopFirst) still starts first", async () => {
    const a = memAgent();
    await a.deploy(1);
    const seen = order(a);
    await a.deploy(2);
    assert.match(seen[0]!, /^start skiff-shop-web-2-/);
    assert.ok(!seen.some((x) => x.startsWith("stop")), "the old one stays warm");
  });
});

describe("accessory: held stopped", () => {
  it("stop holds it: out of HAProxy, stopped, not restarted by the supervisor; start brings the same instance back", async () => {
    const a = memAgent();
    await a.deploy(1, {}, stopFirst);
    const [inst] = a.store.state("shop", "web").instances.map((i) => i.name);
    const r = await a.core.holdApp({ project: "shop", app: "web", machine: "m1", held: true, by: "ann@laptop" });
    assert.deepEqual(r, { changed: true, instances: 1 });
    assert.equal(a.runtime.insts.get(inst!)!.running, false);
    assert.deepEqual(a.proxy.serving(), []);
    assert.equal(a.store.state("shop", "web").held?.by, "ann@laptop");
    a.clock.advance(60_000);
    await a.core.superviseOnce();
    assert.equal(a.runtime.insts.get(inst!)!.running, false, "the supervisor leaves a held app alone");
    assert.deepEqual((await a.core.holdApp({ project: "shop", app: "web", machine: "m1", held: true })).changed, false, "stopping twice changes nothing");

    const s = await a.core.holdApp({ project: "shop", app: "web", machine: "m1", held: false });
    assert.deepEqual(s, { changed: true, instances: 1 });
    assert.equal(a.runtime.insts.get(inst!)!.running, true);
    assert.deepEqual(a.proxy.serving(), [inst]);
    assert.equal(a.store.state("shop", "web").held, undefined);
    assert.deepEqual(historyOf(a), ["deploy 1 ok", "stop 1 ok", "start 1 ok"]);
  });

  it("a new release runs whatever held the old one", async () => {
    const a = memAgent();
    await a.deploy(1, {}, stopFirst);
    await a.core.holdApp({ project: "shop", app: "web", machine: "m1", held: true });
    const r = await a.deploy(2, {}, stopFirst);
    assert.equal(r.ok, true);
    assert.equal(a.store.state("shop", "web").held, undefined);
    assert.equal(a.proxy.serving().length, 1);
  });

  it("a deploy of the release it holds leaves it stopped; a failed new release leaves it stopped and held", async () => {
    const a = memAgent();
    await a.deploy(1, {}, stopFirst);
    const [inst] = a.store.state("shop", "web").instances.map((i) => i.name);
    await a.core.holdApp({ project: "shop", app: "web", machine: "m1", held: true });
    const same = await a.deploy(1, {}, stopFirst);
    assert.deepEqual([same.ok, same.changed], [true, false]);
    assert.match(same.reason!, /held stopped/);
    assert.equal(a.runtime.insts.get(inst!)!.running, false);
    a.runtime.programs.set(2, { exitAtStart: 1 });
    const bad = await a.deploy(2, {}, stopFirst);
    assert.equal(bad.ok, false);
    assert.doesNotMatch(bad.reason!, /started again/);
    assert.equal(a.runtime.insts.get(inst!)!.running, false, "the held one is not started by the undo");
    assert.ok(a.store.state("shop", "web").held);
  });

  it("nothing active here: nothing to hold", async () => {
    const a = memAgent();
    assert.deepEqual(await a.core.holdApp({ project: "shop", app: "web", machine: "m1", held: true }), { changed: false, instances: 0, reason: "no release of it is active here" });
  });
});
