// The supervisor's in-memory copy of the apps' state (state-cache.ts): every
// write through the store is seen by the next read, and a tick with nothing
// due reads no file. Only the agent writes its state files (through the Store):
// a file changed behind its back is not seen until the agent's next write there.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { StateCache } from "../../src/agent/state-cache.ts";
import { memAgent, release, type MemAgent } from "./agent-fakes.ts";

const state = (active: number | null) => ({ project: "shop", app: "web", active, instances: [], warm: [], pending: [] });

async function tick(a: MemAgent, ms = 500): Promise<void> {
  a.clock.advance(ms);
  await a.core.superviseOnce();
  await a.core.supervisor.idle();
}

describe("the state cache", () => {
  it("a write through the store is seen by the next read: state, releases, pruning, removal", () => {
    const { store } = memAgent();
    const cache = new StateCache(store);
    assert.deepEqual(cache.apps(), []);
    store.saveState(state(1));
    assert.deepEqual(cache.apps().map((x) => [x.app, x.state.active]), [["web", 1]]);
    store.saveState(state(2));
    assert.equal(cache.apps()[0]!.state.active, 2);

    assert.equal(cache.release("shop", "web", 1), undefined);
    store.putRelease(release(1));
    assert.equal(cache.release("shop", "web", 1)?.image, "img:1", "a release stored after a miss is seen");
    store.putRelease(release(2));
    store.pruneReleases("shop", "web", 1, []);
    assert.equal(cache.release("shop", "web", 1), undefined, "a pruned release is gone");
    assert.equal(cache.release("shop", "web", 2)?.image, "img:2");

    store.removeApp("shop", "web");
    assert.deepEqual(cache.apps(), []);
  });

  it("reads the files once while nothing is written; a file changed behind the agent's back waits for its next write", () => {
    const { store } = memAgent();
    store.saveState(state(1));
    store.putRelease(release(1));
    const cache = new StateCache(store);
    for (let i = 0; i < 5; i++) assert.equal(cache.release("shop", "web", cache.apps()[0]!.state.active!)?.release, 1);
    assert.equal(cache.reads, 1);
    writeFileSync(join(store.dir, "apps", "shop", "web", "state.json"), JSON.stringify(state(7)));
    assert.equal(cache.apps()[0]!.state.active, 1, "only the agent writes its state: no file is read to find out");
    store.putRelease(release(2));
    assert.equal(cache.apps()[0]!.state.active, 7, "read again after the agent's own next write");
    assert.equal(cache.reads, 2);
  });
});

describe("the supervisor's idle tick", () => {
  it("reads no state while nothing is written, and sees a restart's saved state at the next tick", async () => {
    const a = memAgent();
    await a.deploy(1, {}, { probationMs: 0 });
    const [inst] = a.store.state("shop", "web").instances;
    await tick(a);
    const reads = a.core.supervisor.cache.reads;
    for (let t = 0; t < 20_000; t += 250) await tick(a, 250);
    assert.equal(a.core.supervisor.cache.reads, reads, "20 s of ticks, no state read");
    assert.ok(inst && a.runtime.of(1)[0]!.probes > 0, "the instance was still checked");

    a.runtime.crash(inst!.name, 1);
    await tick(a);
    assert.equal(a.store.state("shop", "web").instances[0]!.restarts, 1);
    await tick(a);
    assert.ok(a.core.supervisor.cache.reads > reads, "the restart's write is read back at the next tick");
    assert.equal(a.core.supervisor.cache.apps()[0]!.state.instances[0]!.restarts, 1);
  });
});
