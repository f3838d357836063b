// The supervisor and its restart policy, driven with in-memory effects and a
// virtual clock: instances that die during and after probation, a restart
// storm whose backoff grows and is bounded, an unhealthy instance restarted
// only after a while and one at a time.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { afterCheck, afterExit, backoffMs, isDue, nextCheckAt, STABLE_AFTER_PASSES } from "../../src/agent/restart-policy.ts";
import { newHealth } from "../../src/agent/health-book.ts";
import { historyOf, memAgent, type MemAgent } from "./agent-fakes.ts";

/** One supervisor pass, after `ms` of virtual time, and every restart it started carried out. */
async function tick(a: MemAgent, ms = 500): Promise<void> {
  a.clock.advance(ms);
  await a.core.superviseOnce();
  await a.core.supervisor.idle();
}

const restarts = (a: MemAgent) => historyOf(a).filter((h) => h.startsWith("restart"));

describe("the restart policy (pure)", () => {
  it("backoff: 1 s doubling, at most 30 s", () => {
    assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 10].map(backoffMs), [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]);
  });

  it("an exit is a restart now, the backoff from the run of restarts so far", () => {
    const j = afterExit({ ...newHealth("x"), consecutiveRestarts: 2 }, { exists: true, running: false, exitCode: 137, oomKilled: true });
    assert.deepEqual(j.decision, { kind: "restart", reason: "exited with code 137 (out of memory)", code: 137, oomKilled: true, delayMs: 4000 });
    assert.deepEqual(j.patch, { busy: true, healthy: false, passes: 0, detail: "exited with code 137 (out of memory)", consecutiveRestarts: 3 });
    const gone = afterExit(newHealth("x"), { exists: false, running: false, exitCode: null, oomKilled: false }).decision;
    assert.equal(gone.kind === "restart" ? gone.reason : gone.kind, "instance is gone");
  });

  it("failed checks: wait until 3 in a row over 10 s, and never while another instance restarts", () => {
    const bad = { ok: false, detail: "HTTP 503" };
    let h = newHealth("x");
    const seen: string[] = [];
    for (const t of [0, 4000, 8000, 10_000]) {
      const j = afterCheck(h, bad, t, { path: "/healthz", othersRestarting: false });
      h = { ...h, ...j.patch };
      seen.push(j.decision.kind === "wait" ? `wait until ${j.decision.until}` : j.decision.kind);
    }
    assert.deepEqual(seen, ["wait until 10000", "wait until 10000", "wait until 10000", "restart"]);
    const busyOther = afterCheck({ ...newHealth("x"), fails: 5, failingSince: 0 }, bad, 60_000, { path: "/healthz", othersRestarting: true });
    assert.equal(busyOther.decision.kind, "wait");
  });

  it("a pass after a minute healthy ends the run of restarts; checks are due once per interval, never while restarting", () => {
    const h = { ...newHealth("x"), healthySince: 1000, consecutiveRestarts: 4 };
    assert.equal(afterCheck(h, { ok: true, detail: "HTTP 200" }, 31_000, { path: "/", othersRestarting: false }).patch.consecutiveRestarts, undefined);
    assert.equal(afterCheck(h, { ok: true, detail: "HTTP 200" }, 61_001, { path: "/", othersRestarting: false }).patch.consecutiveRestarts, 0);
    assert.equal(isDue({ ...newHealth("x"), at: 1000 }, 1400, 500), false);
    assert.equal(isDue({ ...newHealth("x"), at: 1000 }, 1500, 500), true);
    assert.equal(isDue({ ...newHealth("x"), at: 0, busy: true }, 9999, 500), false);
  });

  it("a stable instance whose exit is an event is next due at its probe (5 s), otherwise at the interval", () => {
    const stable = { ...newHealth("x"), healthy: true, passes: STABLE_AFTER_PASSES, at: 10_000, probedAt: 8_000 };
    assert.equal(nextCheckAt(stable, 1000, true), 13_000, "5 s after its last probe");
    assert.equal(nextCheckAt(stable, 1000, false), 11_000, "not watched: looked at every interval");
    assert.equal(nextCheckAt(stable, 10_000, true), 20_000, "an interval longer than 5 s: at the interval");
    assert.equal(nextCheckAt({ ...stable, passes: STABLE_AFTER_PASSES - 1 }, 1000, true), 11_000, "not stable yet");
    assert.equal(nextCheckAt({ ...stable, healthy: false }, 1000, true), 11_000, "failing: at the interval");
    assert.equal(nextCheckAt({ ...stable, busy: true }, 1000, true), Infinity, "restarting");
  });
});

describe("the supervisor", () => {
  it("an instance that dies after probation: the warm release is gone, it is restarted, back in traffic, recorded", async () => {
    const a = memAgent();
    await a.deploy(1);
    await a.deploy(2, {}, { probationMs: 1000 });
    await tick(a, 1500);
    assert.deepEqual(a.store.state("shop", "web").warm, [], "probation over: the warm release stopped");
    assert.deepEqual(a.runtime.of(1), []);
    const [inst] = a.store.state("shop", "web").instances;
    a.runtime.crash(inst!.name, 137, true);
    await tick(a);
    assert.deepEqual(restarts(a), [`restart 2 ok: ${inst!.name} exited with code 137 (out of memory); restarting in 1s (restart 1)`]);
    assert.deepEqual(a.runtime.restarted, [inst!.name]);
    assert.deepEqual(a.proxy.serving(), [inst!.name], "back in traffic after the restart's health gate");
    assert.ok(a.proxy.calls.indexOf(`disable ${inst!.name}`) < a.proxy.calls.lastIndexOf(`enable ${inst!.name}`));
    const saved = a.store.state("shop", "web").instances[0]!;
    assert.equal(saved.restarts, 1);
    assert.deepEqual({ code: saved.lastExit?.code, oom: saved.lastExit?.oomKilled }, { code: 137, oom: true });
    assert.equal(a.core.health.get(inst!.name)?.detail, "healthy after restart");
    assert.deepEqual(a.clock.slept.filter((ms) => ms === 1000).length, 1, "waited the first backoff step");
  });

  it("an instance that dies during probation: restarted, while the warm release stays as backup", async () => {
    const a = memAgent();
    await a.deploy(1);
    await a.deploy(2);
    const [inst] = a.store.state("shop", "web").instances;
    const warm = a.store.state("shop", "web").warm.map((w) => w.name);
    a.runtime.crash(inst!.name, 1);
    await tick(a);
    assert.equal(restarts(a).length, 1);
    assert.deepEqual(a.store.state("shop", "web").warm.map((w) => w.name), warm);
    assert.deepEqual(a.proxy.backups(), warm);
    assert.deepEqual(a.proxy.serving(), [inst!.name]);
  });

  it("a restart storm: each restart fails, the backoff grows 1, 2, 4 … and stays at 30 s; each restart is recorded", async () => {
    const a = memAgent();
    a.runtime.programs.set(1, { exitOnRestart: 1 });
    await a.deploy(1);
    const [inst] = a.store.state("shop", "web").instances;
    a.runtime.crash(inst!.name, 1);
    for (let i = 0; i < 8; i++) await tick(a);
    const delays = restarts(a).map((r) => Number(/restarting in (\d+)s/.exec(r)![1]));
    assert.deepEqual(delays, [1, 2, 4, 8, 16, 30, 30, 30]);
    assert.match(restarts(a).at(-1)!, /\(restart 8\)$/);
    assert.equal(a.runtime.restarted.length, 8);
    assert.deepEqual(a.proxy.serving(), [], "out of traffic while it keeps failing");
    assert.match(a.core.health.get(inst!.name)!.detail, /exited with code 1 before becoming healthy/);
  });

  it("healthy for a minute after a storm, the next crash starts the backoff from 1 s again", async () => {
    const a = memAgent();
    await a.deploy(1);
    const [inst] = a.store.state("shop", "web").instances;
    for (let i = 0; i < 3; i++) {
      a.runtime.crash(inst!.name, 1);
      await tick(a);
    }
    for (let t = 0; t < 62_000; t += 500) await tick(a);
    a.runtime.crash(inst!.name, 1);
    await tick(a);
    assert.deepEqual(restarts(a).map((r) => /restarting in (\d+)s/.exec(r)![1]), ["1", "2", "4", "1"]);
  });

  it("a stable instance is probed every 5 s, looked at every interval: an exit is still caught at the next interval", async () => {
    const a = memAgent();
    await a.deploy(1);
    const [inst] = a.runtime.of(1);
    // 20 s at the 500 ms interval: 10 probes to count as stable, then one every 5 s.
    for (let t = 0; t < 20_000; t += 500) await tick(a);
    const probes = inst!.probes;
    assert.ok(probes >= 11 && probes <= 14, `${probes} probes in 20 s (40 at the interval)`);
    a.runtime.crash(inst!.name, 1);
    await tick(a);
    assert.equal(restarts(a).length, 1, "the exit was seen at the next interval, without a probe");
  });

  it("exits as events: a stable instance is looked at only at its probes (every 5 s), and a reported exit is restarted at once", async () => {
    const a = memAgent();
    a.runtime.watching = true;
    await a.deploy(1, {}, { probationMs: 0 });
    const [inst] = a.runtime.of(1);
    for (let t = 0; t < 10_000; t += 500) await tick(a); // 500 ms interval: stable after 10 probes
    const looks = a.runtime.looks;
    const probes = inst!.probes;
    for (let t = 0; t < 20_000; t += 500) await tick(a);
    assert.equal(inst!.probes - probes, 4, "20 s: a probe every 5 s");
    assert.equal(a.runtime.looks - looks, 4, "and no look between them (40 at the interval)");
    a.runtime.crash(inst!.name, 1);
    await tick(a, 0);
    assert.equal(restarts(a).length, 1, "the reported exit was restarted at once");
  });

  it("sleeps until a check is due, and a state written meanwhile wakes it within a tick", async () => {
    const a = memAgent();
    a.runtime.watching = true;
    await a.deploy(1, {}, { probationMs: 0 });
    for (let t = 0; t < 10_000; t += 500) await tick(a);
    a.core.startSupervisor(20);
    try {
      await new Promise((r) => setTimeout(r, 100));
      const passes = a.core.supervisor.passes;
      await new Promise((r) => setTimeout(r, 400));
      assert.equal(a.core.supervisor.passes, passes, "nothing due by the (virtual) clock: no pass for 400 ms (20 at the tick)");
      const reads = a.core.supervisor.cache.reads;
      await a.deploy(2, {}, { probationMs: 0 }); // writes the state
      await new Promise((r) => setTimeout(r, 150));
      assert.ok(a.core.supervisor.passes > passes, "a pass followed the write");
      assert.ok(a.core.supervisor.cache.reads > reads, "and read the new state");
    } finally {
      a.core.stopSupervisor();
    }
  });

  it("an exit reported while a pass is under way (looking at another instance) is looked at right after that pass", async () => {
    const a = memAgent();
    a.runtime.watching = true;
    await a.deploy(1, {}, { probationMs: 0, instances: 2 });
    const [x, y] = a.runtime.of(1);
    for (let t = 0; t < 10_000; t += 500) await tick(a); // both stable
    await tick(a, 300); // every check due is done: the next ones are seconds (virtual) away
    // y dies (its exit reported) while a pass looks at x, after that pass has found y not due.
    const status = a.runtime.status.bind(a.runtime);
    a.runtime.status = async (name: string) => {
      if (name === x!.name && a.runtime.of(1).find((i) => i.name === y!.name)!.running) a.runtime.crash(y!.name, 1);
      return status(name);
    };
    a.core.supervisor.poke(x!.name);
    a.core.startSupervisor(20);
    try {
      await new Promise((r) => setTimeout(r, 300));
      await a.core.supervisor.idle();
      assert.equal(restarts(a).length, 1, `y's exit, reported during x's probe, was handled at once: ${historyOf(a).join("; ")}`);
    } finally {
      a.core.stopSupervisor();
    }
  });

  it("an exit the runtime reports (poke) is looked at in the next pass, before the instance's interval is up", async () => {
    const a = memAgent();
    await a.deploy(1);
    await tick(a);
    const [inst] = a.runtime.of(1);
    a.runtime.crash(inst!.name, 1);
    await tick(a, 100);
    assert.equal(restarts(a).length, 0, "100 ms after its last check it is not due by the clock");
    a.core.supervisor.poke(inst!.name);
    await tick(a, 0);
    assert.equal(restarts(a).length, 1, "the reported exit was looked at at once");
    a.core.supervisor.poke(inst!.name);
    await tick(a, 0);
    assert.equal(restarts(a).length, 1, "a poke for a running instance restarts nothing");
  });

  it("a running instance that fails its checks is restarted after 10 s and 3 failures, one instance at a time", async () => {
    const a = memAgent();
    await a.deploy(1, {}, { instances: 2 });
    const insts = a.runtime.of(1);
    for (const i of insts) i.failing = true;
    const t0 = a.clock.now();
    // Checks every 500 ms. Let a tick run the restart (out of traffic, backoff) without waiting for it.
    while (!restarts(a).length) {
      a.clock.advance(500);
      await a.core.superviseOnce();
    }
    assert.ok(a.clock.now() - t0 >= 10_000, `restarted after ${a.clock.now() - t0} ms`);
    assert.match(restarts(a)[0]!, /unhealthy: \/healthz answered HTTP 503, failing for 1\ds; restarting in 1s \(restart 1\)$/);
    // While it restarts, the other (as unhealthy) is not restarted too.
    a.clock.advance(500);
    await a.core.superviseOnce();
    assert.equal(restarts(a).length, 1);
    await a.core.supervisor.idle();
  });
});
