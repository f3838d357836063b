// Activation and rollout on in-process machines (the real agent core and store; instances are real HTTP
// servers; HAProxy is a recorder whose faults the test switches on): what fails after the switch is
// reverted, a lost lock stops the rollout, two deploys started together never both fail.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { acquireLocks } from "../../src/exec/lock.ts";
import { activateOn as activateThrough, rollout, type RolloutInput } from "../../src/exec/rollout.ts";
import type { AgentClient } from "../../src/transport/agent-client.ts";
import { UserError } from "../../src/errors.ts";
import { activateOn, fleet, spec, type FakeMachine } from "./fake-machine.ts";

const machine = fleet("skiff-rollout-test-");
const act = activateOn;
const quiet = { emit() {} };
const input = (ms: FakeMachine[], target: number, previous: number | null, over: Partial<RolloutInput> = {}): RolloutInput => ({
  project: "shop", app: "web", target, previous: new Map(ms.map((m) => [m.name, previous])), clients: ms.map((m) => m.client), maxParallel: 1,
  action: "deploy", deployId: "d", by: "test", keepWarm: false, reporter: quiet, interrupted: () => false, ...over,
});

describe("activation: nothing throws after the switch", () => {
  it("a huge probation does not throw after HAProxy switched", async () => {
    const m = machine("m1");
    m.store.putRelease(spec("shop", "web", 1, { probationMs: 1e20 }));
    const r = await act(m, 1);
    assert.equal(r.ok, true, r.reason);
    assert.equal(r.changed, true);
    assert.equal(m.store.state("shop", "web").active, 1);
  });

  it("a drain that throws (an empty Runtime API answer) after the switch is reported as switched, not as untouched", async () => {
    const m = machine("m1");
    m.store.putRelease(spec("shop", "web", 1));
    m.store.putRelease(spec("shop", "web", 2));
    assert.equal((await act(m, 1)).ok, true);
    m.proxy.faults.drain = true;
    const r = await act(m, 2);
    assert.equal(r.ok, false);
    assert.equal(r.changed, true, "the new release took traffic before the drain failed");
    assert.match(r.reason!, /took traffic, then failed: Cannot read properties of undefined/);
  });
});

describe("activation as a job: one round trip", () => {
  /** The machine's channel, logging what is sent and answered; `old` drops the caller's job id on the way in, as
   *  an agent that predates it does (its parameters' schema strips what it does not know). */
  const logged = (m: FakeMachine, log: string[], old = false) =>
    ({
      ...m.client,
      call: async (method: string, params?: Record<string, unknown>) => {
        log.push(method);
        const sent = old && method === "activate" ? { ...params, job: undefined } : params;
        const r = await m.client.call(method, sent);
        log.push(`${method} answered`);
        return r;
      },
    }) as unknown as AgentClient;
  const params = (release: number) => ({ project: "shop", app: "web", release, machine: "m1", action: "deploy" as const, bindAddress: "127.0.0.1" });

  it("the job's first wait is sent with its start, before the start is answered, and brings the result", async () => {
    const m = machine("m1");
    m.store.putRelease(spec("shop", "web", 1));
    const log: string[] = [];
    const r = await activateThrough(logged(m, log), params(1));
    assert.equal(r.ok, true, r.reason);
    assert.equal(m.store.state("shop", "web").active, 1);
    assert.deepEqual(log.slice(0, 2), ["activate", "job.wait"]);
    assert.equal(log.filter((l) => l === "job.wait").length, 1, log.join(" | "));
  });

  it("an agent that names its own job is waited on by that name", async () => {
    const m = machine("m1");
    m.store.putRelease(spec("shop", "web", 1));
    const log: string[] = [];
    const r = await activateThrough(logged(m, log, true), params(1));
    assert.equal(r.ok, true, r.reason);
    assert.equal(m.store.state("shop", "web").active, 1);
    assert.equal(log.filter((l) => l === "job.wait").length, 2, log.join(" | "));
  });

  it("a job id already in use is refused (nobody takes over another's job)", async () => {
    const m = machine("m1");
    m.store.putRelease(spec("shop", "web", 1));
    const job = "0b7c5d2e-8f1a-4c3b-9d6e-5a4f3b2c1d0e";
    await m.client.call("hook.run", { project: "shop", app: "web", release: 1, machine: "m1", job });
    await assert.rejects(m.client.call("activate", { ...params(1), job }), /job 0b7c5d2e-8f1a-4c3b-9d6e-5a4f3b2c1d0e exists already/);
    await assert.rejects(m.client.call("hook.run", { project: "shop", app: "web", release: 2, machine: "m1", job }), /exists already/, "the same method with other parameters is another job");
    await assert.rejects(m.client.call("activate", { ...params(1), job: "../x" }), /invalid parameters for activate: params\.job/);
  });

  it("the same start sent again (its connection dropped before the answer) is the same job: it runs once", async () => {
    const m = machine("m1");
    m.store.putRelease(spec("shop", "web", 1));
    const job = "1c8d6e3f-9a2b-4d4c-8e7f-6b5a4c3d2e1f";
    const a = await m.client.call<{ job: string }>("activate", { ...params(1), job });
    const b = await m.client.call<{ job: string }>("activate", { ...params(1), job });
    assert.deepEqual([a.job, b.job], [job, job]);
    const r = await m.client.call<{ done: boolean; result?: { ok: boolean }; error?: string }>("job.wait", { job, timeoutMs: 5000 });
    assert.equal(r.result?.ok, true, r.error);
    assert.equal(m.store.history({ project: "shop", app: "web" }).filter((h) => h.release === 1).length, 1, "one activation recorded, not two");
  });

  it("a start whose answer was lost with the connection is sent again and waited on as the one job", async () => {
    const m = machine("m1");
    m.store.putRelease(spec("shop", "web", 1));
    const log: string[] = [];
    let drop = true;
    const c = {
      ...m.client,
      call: async (method: string, params?: Record<string, unknown>) => {
        log.push(method);
        const r = await m.client.call(method, params);
        // The start got there (the job runs); its answer, and the wait sent behind it, are lost with the connection.
        if (drop && (method === "activate" || method === "job.wait")) {
          if (method === "job.wait") drop = false;
          throw new UserError("m1: lost the connection to the agent (exit 255: ssh itself failed)");
        }
        return r;
      },
    } as unknown as AgentClient;
    const r = await activateThrough(c, params(1));
    assert.equal(r.ok, true, r.reason);
    assert.deepEqual(log.slice(0, 3), ["activate", "job.wait", "activate"], log.join(" | "));
    assert.equal(m.store.history({ project: "shop", app: "web" }).filter((h) => h.release === 1).length, 1, "one activation, not two");
  });
});

describe("rollout: every machine that may have switched goes back", () => {
  it("a machine whose activation failed after the switch is reverted with the others", async () => {
    const ms = [machine("m1"), machine("m2")];
    for (const m of ms) {
      m.store.putRelease(spec("shop", "web", 1));
      m.store.putRelease(spec("shop", "web", 2));
      assert.equal((await act(m, 1)).ok, true);
    }
    ms[1]!.proxy.faults.drain = true;
    const r = await rollout(input(ms, 2, 1));
    assert.equal(r.ok, false);
    assert.equal(r.failure!.machine, "m2");
    assert.deepEqual(r.reverted.map((v) => [v.machine, v.to, v.ok]).sort(), [["m1", 1, true], ["m2", 1, true]]);
    for (const m of ms) assert.equal(m.store.state("shop", "web").active, 1, `${m.name} serves release 1 again`);
  });

  it("a lost lock stops the rollout before the next machine and returns the switched ones", async () => {
    const ms = [machine("m1"), machine("m2"), machine("m3")];
    for (const m of ms) {
      m.store.putRelease(spec("shop", "web", 1));
      m.store.putRelease(spec("shop", "web", 2));
      assert.equal((await act(m, 1)).ok, true);
    }
    let checks = 0;
    const r = await rollout(input(ms, 2, 1, { checkLock: async () => (++checks > 1 ? "the deploy lock on m1 was broken or taken by another deploy" : undefined) }));
    assert.equal(r.ok, false);
    assert.match(r.failure!.reason, /lock on m1 was broken/);
    assert.deepEqual(ms.map((m) => m.store.state("shop", "web").active), [1, 1, 1]);
    assert.deepEqual(r.reverted.map((v) => v.machine), ["m1"]);
  });

  it("the lock check before a wave runs beside the wave before it; each wave still waits for it", async () => {
    const ms = [machine("m1"), machine("m2"), machine("m3")];
    for (const m of ms) {
      m.store.putRelease(spec("shop", "web", 1));
      m.store.putRelease(spec("shop", "web", 2));
      assert.equal((await act(m, 1)).ok, true);
    }
    const seen: string[] = [];
    let release: (() => void) | undefined;
    let checks = 0;
    const checkLock = async () => {
      const n = ++checks;
      seen.push(`check ${n}`);
      // The second check (before wave 3) answers only once the test lets it: wave 3 must not start before that.
      if (n === 2) {
        await new Promise<void>((r) => (release = r));
        seen.push("check 2 answered");
      }
      return undefined;
    };
    const reporter = {
      emit: (e: { type: string; index?: number; status?: string; machine?: string; step?: string }) => {
        if (e.type === "wave") seen.push(`wave ${e.index} ${e.status}`);
        if (e.type === "step" && e.status === "ok" && e.step?.endsWith("serving")) seen.push(`${e.machine} serving`);
      },
    };
    const running = rollout(input(ms, 2, 1, { checkLock, lockJustChecked: true, reporter: reporter as RolloutInput["reporter"] }));
    while (!release) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(!seen.includes("wave 3 start"), `wave 3 waits for its lock check: ${seen.join(", ")}`);
    release();
    const r = await running;
    assert.equal(r.ok, true, r.failure?.reason);
    // The closing check asks once the last wave has switched, beside telling the machines their peers.
    assert.deepEqual(seen, ["check 1", "wave 1 start", "m1 serving", "wave 1 ok", "check 2", "wave 2 start", "m2 serving", "wave 2 ok", "check 2 answered", "wave 3 start", "m3 serving", "check 3", "wave 3 ok"]);
  });

  it("max parallel 0 is refused instead of looping forever", async () => {
    const ms = [machine("m1")];
    await assert.rejects(Promise.race([rollout(input(ms, 1, null, { maxParallel: 0 })), new Promise((_, no) => setTimeout(() => no(new Error("still running after 2 s")), 2000))]), /at least 1/);
  });
});

describe("deploy lock across machines", () => {
  it("two deploys started at the same moment: exactly one wins, the other names the holder (30 trials)", async () => {
    for (let t = 0; t < 30; t++) {
      const ms = ["m1", "m2", "m3"].map(machine);
      const clients = ms.map((m) => m.client);
      const tries = await Promise.allSettled([acquireLocks(clients, "deploy web", { project: "shop" }), acquireLocks([...clients].reverse(), "deploy web", { project: "shop" })]);
      const won = tries.filter((x) => x.status === "fulfilled");
      assert.equal(won.length, 1, `trial ${t}: ${tries.map((x) => (x.status === "rejected" ? (x.reason as Error).message : "won")).join(" | ")}`);
      const lost = tries.find((x) => x.status === "rejected") as PromiseRejectedResult;
      assert.match((lost.reason as Error).message, /another deploy holds the lock of project shop on m1: .*#\d+-\d+ \(deploy web, pid \d+ on /);
      await (won[0] as PromiseFulfilledResult<Awaited<ReturnType<typeof acquireLocks>>>).value.release();
      for (const m of ms) assert.equal(m.store.lockInfo("shop"), undefined);
    }
  });

  it("with a wait, the second takes the lock when the first lets go", async () => {
    const ms = ["m1", "m2"].map(machine);
    const clients = ms.map((m) => m.client);
    const first = await acquireLocks(clients, "deploy web", { project: "shop" });
    const second = acquireLocks(clients, "deploy web", { project: "shop", waitMs: 10_000 });
    await new Promise((r) => setTimeout(r, 300));
    await first.release();
    const got = await second;
    assert.equal(got.clients.length, 2);
    await got.release();
  });

  it("two projects on the same machines do not block each other", async () => {
    const clients = ["m1", "m2"].map(machine).map((m) => m.client);
    const a = await acquireLocks(clients, "deploy web", { project: "shop" });
    const b = await acquireLocks(clients, "deploy api", { project: "blog" });
    await a.release();
    await b.release();
  });

  it("a holder learns that its lock was broken (or taken), or that a machine stopped confirming it", async () => {
    const ms = ["m1", "m2"].map(machine);
    const lock = await acquireLocks(ms.map((m) => m.client), "deploy web", { project: "shop", staleAfterMs: 100 });
    assert.equal(await lock.check(), undefined);
    ms[1]!.store.releaseLock("shop", { force: true });
    ms[1]!.store.acquireLock("shop", { holder: "other", host: "h", pid: 1, command: "deploy web", since: "now", heartbeat: "now" });
    assert.match((await lock.check()) ?? "", /the deploy lock on m2 was broken or taken by another deploy/);
    await lock.release();
    assert.equal(ms[1]!.store.lockInfo("shop")?.holder, "other", "releasing does not remove another holder's lock");

    const lock2 = await acquireLocks([ms[0]!.client], "deploy web", { project: "blog", staleAfterMs: 100 });
    ms[0]!.failWith.set("lock.heartbeat", "ECONNRESET");
    await new Promise((r) => setTimeout(r, 120));
    assert.match((await lock2.check()) ?? "", /m1 has not confirmed the deploy lock/);
    ms[0]!.failWith.clear();
    await lock2.release();
  });

  it("a full disk is named as such, with a hint to free it, not as an unreachable machine", async () => {
    const ms = ["m1", "m2", "m3"].map(machine);
    ms[2]!.failWith.set("lock.acquire", "ENOSPC");
    const err = await acquireLocks(ms.map((m) => m.client), "deploy web", { project: "shop" }).then(() => undefined, (e: Error & { hint?: string }) => e);
    assert.ok(err);
    assert.match(err.message, /^m3: the disk of \/var\/lib\/skiff is full/);
    assert.doesNotMatch(err.message, /unreachable/);
    assert.match(err.hint ?? "", /free space on m3/);
    assert.doesNotMatch(err.hint ?? "", /skip-unreachable/);
    for (const m of ms) assert.equal(m.store.lockInfo("shop"), undefined, `${m.name} keeps no lock`);
  });
});
