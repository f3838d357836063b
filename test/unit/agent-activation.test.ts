// Activation driven through its decisions with in-memory effects (virtual clock,
// in-memory runtime and proxy): what switches, what stays, what is recorded.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { historyOf, memAgent } from "./agent-fakes.ts";

describe("activation", () => {
  it("a first release: started, gated, enabled, recorded", async () => {
    const a = memAgent();
    const r = await a.deploy(1);
    assert.equal(r.ok, true);
    assert.equal(r.changed, true);
    const st = a.store.state("shop", "web");
    assert.equal(st.active, 1);
    assert.deepEqual(a.proxy.serving(), st.instances.map((i) => i.name));
    assert.deepEqual(st.pending, []);
    assert.deepEqual(historyOf(a), ["deploy 1 ok"]);
  });

  it("a release that crashes at start: activation fails, nothing switched, the old release keeps serving", async () => {
    const a = memAgent();
    await a.deploy(1);
    const old = a.store.state("shop", "web").instances.map((i) => i.name);
    a.runtime.programs.set(2, { exitAtStart: 3 });
    const r = await a.deploy(2);
    assert.equal(r.ok, false);
    assert.equal(r.changed, false);
    assert.match(r.reason!, /^instance skiff-shop-web-2-\w+ exited with code 3 before becoming healthy$/);
    assert.match(r.failedInstance!, /^skiff-shop-web-2-/);
    assert.equal(r.logs, `last lines of ${r.failedInstance}`);
    const st = a.store.state("shop", "web");
    assert.equal(st.active, 1);
    assert.deepEqual(st.instances.map((i) => i.name), old);
    assert.deepEqual(st.pending, [], "the started instance is not left pending");
    assert.deepEqual(a.proxy.serving(), old);
    assert.deepEqual(a.runtime.of(2), [], "the crashed instance is removed");
    assert.ok(!a.proxy.calls.some((c) => c.includes("-2-")), `release 2 never reached HAProxy: ${a.proxy.calls.join(", ")}`);
    assert.deepEqual(historyOf(a), ["deploy 1 ok", `deploy 2 failed: ${r.reason}`]);
  });

  it("a release healthy too late: fails at the deadline (virtual time), the old release keeps serving", async () => {
    const a = memAgent();
    await a.deploy(1);
    a.runtime.programs.set(2, { healthyAfterMs: 5000 });
    const t0 = a.clock.now();
    const started = Date.now();
    const r = await a.deploy(2);
    assert.equal(r.ok, false);
    assert.match(r.reason!, /was not healthy within the 3s deadline \(last check of \/healthz: HTTP 503\)$/);
    // Checks every 500 ms; the last one is the one after which another interval would pass the deadline.
    assert.ok(a.clock.now() - t0 >= 2500 && a.clock.now() - t0 <= 3000, `gave up after ${a.clock.now() - t0} ms of virtual time`);
    assert.ok(Date.now() - started < 500, "no real waiting");
    assert.equal(a.store.state("shop", "web").active, 1);
    assert.equal(a.proxy.serving().length, 1);
    assert.match(a.proxy.serving()[0]!, /-1-/);
  });

  it("healthy_threshold: passes must come in a row; a failure in between starts the count again", async () => {
    const a = memAgent();
    a.runtime.programs.set(1, { answers: [true, true, false, true, true, true] });
    const r = await a.deploy(1, {}, { health: { path: "/healthz", intervalMs: 500, timeoutMs: 200, healthyThreshold: 3, deadlineMs: 10_000 } });
    assert.equal(r.ok, true);
    assert.equal(a.runtime.of(1)[0]!.probes, 6, "3 passes in a row only at the 6th check");
  });

  it("a starting instance is probed every 100 ms until its first pass; the passes that confirm it come at the interval", async () => {
    const a = memAgent();
    await a.deploy(1);
    a.runtime.programs.set(2, { healthyAfterMs: 250 });
    const t0 = a.clock.now();
    const r = await a.deploy(2, {}, { health: { path: "/healthz", intervalMs: 1000, timeoutMs: 200, healthyThreshold: 2, deadlineMs: 10_000 } });
    assert.equal(r.ok, true, r.reason);
    const took = a.clock.now() - t0;
    // Fails at 0, 100, 200 ms, passes at 300 ms, passes again one interval later: 1.3 s, not the 2 s of 1 s ticks.
    assert.ok(took >= 1300 && took < 1400, `gated after ${took} ms of virtual time`);
    assert.equal(a.runtime.of(2)[0]!.probes, 5);
    assert.deepEqual(Object.keys(r.phases ?? {}), ["prepare", "start", "health", "proxyUp", "switch", "drain"], "every phase timed");
    assert.ok(r.phases!.health! >= 1300, `health phase ${r.phases!.health} ms`);
  });

  it("a machine's instances of a release start side by side, on distinct ports", async () => {
    const a = memAgent();
    const start = a.runtime.start.bind(a.runtime);
    let inFlight = 0;
    let most = 0;
    a.runtime.start = async (s) => {
      most = Math.max(most, ++inFlight);
      await a.clock.sleep(300);
      inFlight--;
      return start(s);
    };
    const t0 = a.clock.now();
    const r = await a.deploy(1, {}, { instances: 3 });
    assert.equal(r.ok, true, r.reason);
    assert.equal(most, 3, "all three were starting at once");
    assert.ok(r.phases!.start! < 600, `start phase ${r.phases!.start} ms of virtual time, not 3 × 300`);
    const ports = a.store.state("shop", "web").instances.map((i) => i.hostPort);
    assert.equal(new Set(ports).size, 3);
    assert.ok(a.clock.now() - t0 < 900);
  });

  it("a warm instance with healthy_threshold fresh passes by the supervisor is reused at once; a stale one is gated again", async () => {
    const health = { path: "/healthz", intervalMs: 500, timeoutMs: 200, healthyThreshold: 2, deadlineMs: 10_000 };
    const a = memAgent();
    await a.deploy(1, { keepWarm: true }, { health });
    await a.deploy(2, { keepWarm: true }, { health });
    const [warm] = a.store.state("shop", "web").warm;
    for (let i = 0; i < 2; i++) {
      a.clock.advance(500);
      await a.core.supervisor.once();
    }
    const probed = a.runtime.of(1)[0]!.probes;
    let t0 = a.clock.now();
    const back = await a.deploy(1, { action: "rollback", keepWarm: true });
    assert.equal(back.ok, true, back.reason);
    assert.equal(a.clock.now() - t0, 0, "no waiting: its passes are fresh");
    assert.equal(a.runtime.of(1)[0]!.probes, probed, "not probed again");
    assert.deepEqual(a.store.state("shop", "web").instances.map((i) => i.name), [warm!.name]);

    // Release 2 is warm now, but its passes are old (no supervisor pass for a while): it waits for two passes again.
    for (let i = 0; i < 2; i++) {
      a.clock.advance(500);
      await a.core.supervisor.once();
    }
    a.clock.advance(5000);
    t0 = a.clock.now();
    const again = await a.deploy(2, { action: "rollback", keepWarm: true });
    assert.equal(again.ok, true, again.reason);
    assert.ok(a.clock.now() - t0 >= 500, `gated again: ${a.clock.now() - t0} ms`);
  });

  it("a stable warm instance, probed on its slower schedule, needs one pass now; a failing one or one not probed on schedule needs the whole run", async () => {
    const health = { path: "/healthz", intervalMs: 500, timeoutMs: 200, healthyThreshold: 3, deadlineMs: 10_000 };
    const a = memAgent();
    await a.deploy(1, { keepWarm: true }, { health });
    await a.deploy(2, { keepWarm: true }, { health });
    // Supervisor passes at the interval: release 1's warm instance passes 10 probes in a row (stable), after which
    // it is probed every 5 s.
    for (let i = 0; i < 12; i++) {
      a.clock.advance(500);
      await a.core.supervisor.once();
    }
    a.clock.advance(4000);
    let probed = a.runtime.of(1)[0]!.probes;
    let t0 = a.clock.now();
    const back = await a.deploy(1, { action: "rollback", keepWarm: true });
    assert.equal(back.ok, true, back.reason);
    assert.equal(a.clock.now() - t0, 0, "no interval waited");
    assert.equal(a.runtime.of(1)[0]!.probes, probed + 1, "probed once, now");

    // Release 2, warm and stable now, fails the probe the rollback makes: its run starts again, three passes.
    for (let i = 0; i < 12; i++) {
      a.clock.advance(500);
      await a.core.supervisor.once();
    }
    a.clock.advance(4000);
    const two = a.runtime.of(2)[0]!;
    two.program = { ...two.program, answers: [...Array<boolean>(two.probes).fill(true), false] };
    t0 = a.clock.now();
    const again = await a.deploy(2, { action: "rollback", keepWarm: true });
    assert.equal(again.ok, true, again.reason);
    assert.equal(a.clock.now() - t0, 1500, "a failure, then three passes at the interval");

    // Release 1, stable, but the supervisor has not probed it for longer than its schedule: the whole run.
    for (let i = 0; i < 12; i++) {
      a.clock.advance(500);
      await a.core.supervisor.once();
    }
    a.clock.advance(6000);
    probed = a.runtime.of(1)[0]!.probes;
    t0 = a.clock.now();
    const late = await a.deploy(1, { action: "rollback", keepWarm: true });
    assert.equal(late.ok, true, late.reason);
    assert.equal(a.clock.now() - t0, 1000, "three passes, one interval apart");
    assert.equal(a.runtime.of(1)[0]!.probes, probed + 3);
  });

  it("a new release demotes the old to a backup slot and drains its primary one; it stays warm for the probation", async () => {
    const a = memAgent();
    await a.deploy(1);
    const [one] = a.store.state("shop", "web").instances;
    const t = a.clock.now();
    await a.deploy(2);
    const st = a.store.state("shop", "web");
    assert.deepEqual(st.warm.map((i) => i.name), [one!.name]);
    assert.equal(st.warmUntil, new Date(t + 60_000).toISOString());
    assert.deepEqual(a.proxy.backups(), [one!.name]);
    assert.ok(a.proxy.calls.indexOf(`enable ${one!.name} backup`) < a.proxy.calls.indexOf(`drain ${one!.name}`));
    assert.ok(!a.proxy.serving().includes(one!.name));
  });

  it("keep_warm: the old release stays warm for good, and a rollback takes it back without a start", async () => {
    const a = memAgent();
    await a.deploy(1);
    await a.deploy(2, { keepWarm: true });
    assert.equal(a.store.state("shop", "web").warmUntil, null);
    a.clock.advance(24 * 3600_000);
    await a.core.superviseOnce();
    const warm = a.store.state("shop", "web").warm;
    assert.equal(warm.length, 1, "not stopped by the supervisor");
    const starts = a.runtime.started.length;
    const r = await a.deploy(1, { action: "rollback" });
    assert.equal(r.ok, true);
    assert.equal(a.runtime.started.length, starts, "no instance started");
    const st = a.store.state("shop", "web");
    assert.deepEqual(st.instances.map((i) => i.name), warm.map((i) => i.name));
    assert.deepEqual(st.warm.map((i) => i.release), [2]);
    assert.deepEqual(a.proxy.serving(), warm.map((i) => i.name));
  });

  it("the warm release a deploy replaces stops after the activation answers; an agent restart before then removes it", async () => {
    const a = memAgent();
    await a.deploy(1, { keepWarm: true });
    await a.deploy(2, { keepWarm: true });
    const [one] = a.store.state("shop", "web").warm;
    // Its first stop hangs (a slow container stop): the deploy of release 3 answers anyway.
    const stop = a.runtime.stop.bind(a.runtime);
    let release!: () => void;
    let hung = false;
    a.runtime.stop = (name: string) => (name === one!.name && !hung ? ((hung = true), new Promise<void>((r) => (release = r)).then(() => stop(name))) : stop(name));
    const r = await a.deploy(3, { keepWarm: true });
    assert.equal(r.ok, true, r.reason);
    let st = a.store.state("shop", "web");
    assert.deepEqual(st.retiring?.map((i) => i.name), [one!.name], "recorded as retiring until it is gone");
    assert.ok(!a.proxy.serving().includes(one!.name) && !a.proxy.backups().includes(one!.name), "out of HAProxy already");
    // The agent restarts now: its reconcile removes it.
    await a.core.reconcile();
    st = a.store.state("shop", "web");
    assert.deepEqual(st.retiring, []);
    assert.deepEqual(a.runtime.of(1), [], "release 1's instance is gone");
    release();
  });

  it("a revert undoes only its own switch: while another release serves, it changes nothing", async () => {
    const a = memAgent();
    await a.deploy(1);
    await a.deploy(2);
    await a.deploy(3);
    const r = await a.deploy(1, { revert: { release: 2, reason: "smoke check failed elsewhere" } });
    assert.equal(r.ok, true);
    assert.equal(r.changed, false);
    assert.equal(r.reason, "nothing to undo: release 3 serves here, not 2");
    assert.equal(a.store.state("shop", "web").active, 3);
    const own = await a.deploy(2, { revert: { release: 3, reason: "smoke check failed elsewhere" } });
    assert.equal(own.changed, true);
    assert.deepEqual(historyOf(a).slice(-2), ["deploy 3 rolled back: smoke check failed elsewhere", "deploy 2 ok"]);
  });

  it("fenced by the lock holder: another deploy's lock refuses the call, the right holder passes", async () => {
    const a = memAgent();
    a.store.acquireLock("shop", { holder: "deploy-b", host: "h", pid: 1, command: "skiff deploy", since: "now", heartbeat: "now" });
    await assert.rejects(a.deploy(1, { holder: "deploy-a" }), /held by deploy-b, not by this deploy/);
    await assert.rejects(a.deploy(1), /this call names no lock holder/);
    assert.equal((await a.deploy(1, { holder: "deploy-b" })).ok, true);
  });
});
