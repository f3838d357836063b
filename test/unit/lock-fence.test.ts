// The deploy lock as a fence (issue 9, item 5): a deploy that lost its lock cannot change a machine any
// more (the agent checks the holder under the app mutex), a revert only undoes its own switch, a hung
// heartbeat is noticed, and no lock is left behind by an error path. Real AgentCore + Store in temp dirs;
// a channel that hangs or drops a reply is the only fake (faults that cannot be caused in-process).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { LockInfo } from "../../src/contracts/model.ts";
import type { AgentClient } from "../../src/transport/agent-client.ts";
import { acquireLocks, type CheckOptions } from "../../src/exec/lock.ts";
import { rollout, runJob, type RolloutInput } from "../../src/exec/rollout.ts";
import { UserError } from "../../src/errors.ts";
import { activateOn, fleet, spec, type FakeMachine } from "./fake-machine.ts";

const machine = fleet("skiff-lock-fence-test-");
const act = activateOn;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const quiet = { emit() {} };
const input = (clients: AgentClient[], target: number, previous: number | null, over: Partial<RolloutInput> = {}): RolloutInput => ({
  project: "shop", app: "web", target, previous: new Map(clients.map((c) => [c.machine, previous])), clients, maxParallel: 1,
  action: "deploy", deployId: "d", by: "test", keepWarm: false, reporter: quiet, interrupted: () => false, ...over,
});
const other: LockInfo = { holder: "other#1", host: "h", pid: 1, command: "deploy web", since: "now", heartbeat: "now" };
/** The machine's channel with one method replaced (a hung call, a lost reply). */
const withCall = (m: FakeMachine, call: (method: string, params: unknown, real: AgentClient["call"]) => Promise<unknown>) =>
  ({ ...m.client, call: (method: string, params?: unknown) => call(method, params, m.client.call.bind(m.client)) }) as unknown as AgentClient;
const within = <T>(p: Promise<T>, ms: number) => Promise.race([p, sleep(ms).then(() => Promise.reject(new Error(`still waiting after ${ms} ms`)))]);

async function threeReleases(names: string[]): Promise<FakeMachine[]> {
  const ms = names.map(machine);
  for (const m of ms) {
    for (const r of [1, 2, 3]) m.store.putRelease(spec("shop", "web", r));
    assert.equal((await act(m, 1)).ok, true);
  }
  return ms;
}

describe("the agent fences on the lock holder", () => {
  it("a deploy whose lock was broken and taken mid-rollout changes nothing more, and does not revert over the new holder", async () => {
    const ms = await threeReleases(["m1", "m2"]);
    const a = await acquireLocks(ms.map((m) => m.client), "deploy web", { project: "shop" });
    let b: Awaited<ReturnType<typeof acquireLocks>> | undefined;
    let checks = 0;
    let firstWave = false;
    const reporter = { emit: (e: { type: string; status?: string }) => void (e.type === "wave" && e.status === "ok" && (firstWave = true)) };
    // A's check passes; right after it (and after its first wave: the check before a wave runs beside the one
    // before it), A stalls, someone breaks its lock (--force) and B deploys release 3.
    const checkLock = async () => {
      const why = await a.check();
      if (++checks === 2) {
        while (!firstWave) await sleep(5);
        for (const m of ms) m.store.releaseLock("shop", { force: true });
        b = await acquireLocks(ms.map((m) => m.client), "deploy web", { project: "shop" });
        const rb = await rollout(input(b.clients, 3, 2, { previous: new Map([["m1", 2], ["m2", 1]]), checkLock: b.check }));
        assert.equal(rb.ok, true, rb.failure?.reason);
      }
      return why;
    };
    const ra = await rollout(input(a.clients, 2, 1, { checkLock, reporter: reporter as RolloutInput["reporter"] }));
    assert.equal(ra.ok, false);
    assert.deepEqual(ms.map((m) => m.store.state("shop", "web").active), [3, 3], "B's release 3 serves everywhere: A neither switched m2 nor reverted m1");
    // m2's agent refused A's wave (B holds the lock there); A says why as a lost lock, which its check confirms.
    assert.match(ra.failure!.reason, /^stopped: the deploy lock on m\d was broken or taken by another deploy$/);
    await b!.release();
    await a.release();
  });

  it("a lock broken with --force and not taken by anyone: the deploy stops and returns the machines it switched", async () => {
    const ms = await threeReleases(["m1", "m2"]);
    const a = await acquireLocks(ms.map((m) => m.client), "deploy web", { project: "shop" });
    let checks = 0;
    const checkLock = async () => {
      if (++checks === 2) for (const m of ms) m.store.releaseLock("shop", { force: true });
      return a.check();
    };
    const ra = await rollout(input(a.clients, 2, 1, { checkLock }));
    assert.equal(ra.ok, false);
    assert.match(ra.failure!.reason, /the deploy lock on m\d was broken or taken by another deploy/);
    assert.deepEqual(ra.reverted.map((v) => [v.machine, v.to, v.ok]), [["m1", 1, true]]);
    assert.deepEqual(ms.map((m) => m.store.state("shop", "web").active), [1, 1]);
    // Its other changes stay refused while nobody holds the lock.
    await assert.rejects(a.clients[1]!.call("app.remove", { project: "shop", app: "web" }), /not held by anyone, not by this deploy/);
    await a.release();
  });

  it("the pre_deploy hook (a migration) of a deploy whose lock was taken does not run", async () => {
    const m = machine("m1");
    m.store.putRelease(spec("shop", "web", 1, { preDeploy: { command: "migrate", timeoutMs: 1000 } }));
    const a = await acquireLocks([m.client], "deploy web", { project: "shop" });
    m.store.releaseLock("shop", { force: true });
    m.store.acquireLock("shop", other);
    await assert.rejects(runJob(a.clients[0]!, "hook.run", { project: "shop", app: "web", release: 1, machine: "m1" }, "pre_deploy"), /pre_deploy failed: the deploy lock of project shop on this machine is held by other#1, not by this deploy/);
    assert.equal(m.runtime.started.length, 0, "no hook instance was started");
    await a.release();
  });

  it("a revert only undoes its own switch: another release active there is left alone", async () => {
    const [m] = await threeReleases(["m1"]);
    assert.equal((await act(m!, 3)).ok, true);
    const r = await act(m!, 1, { action: "rollback", revert: { release: 2, reason: "m2 failed" } });
    assert.equal(r.ok, true);
    assert.equal(r.changed, false);
    assert.match(r.reason ?? "", /release 3 serves here, not 2/);
    assert.equal(m!.store.state("shop", "web").active, 3);
  });

  it("app.remove as a revert removes the app only while it still runs the release this deploy started", async () => {
    const m = machine("m1");
    for (const r of [1, 2]) m.store.putRelease(spec("shop", "web", r));
    assert.equal((await act(m, 2)).ok, true);
    const r = await m.client.call<{ removed: number }>("app.remove", { project: "shop", app: "web", onlyIfActive: 1 });
    assert.equal(r.removed, 0);
    assert.match((r as { kept?: string }).kept ?? "", /release 2 serves here, not 1/);
    assert.equal(m.store.state("shop", "web").active, 2);
  });

  it("a call without a holder is refused while a deploy holds the project's lock there, and served when none does", async () => {
    const [m] = await threeReleases(["m1"]);
    m!.store.acquireLock("shop", other);
    await assert.rejects(act(m!, 2), /the deploy lock of project shop on this machine is held by other#1/);
    await assert.rejects(m!.client.call("app.remove", { project: "shop", app: "web" }), /held by other#1/);
    await assert.rejects(m!.client.call("app.remove", { project: "shop", app: "web", holder: "me#2" }), /held by other#1, not by this deploy/);
    assert.equal(m!.store.state("shop", "web").active, 1);
    m!.store.releaseLock("shop", { force: true });
    assert.equal((await act(m!, 2)).ok, true);
  });
});

describe("heartbeats that hang or blip", () => {
  it("a heartbeat that never answers is noticed: check() returns that the machine stopped confirming", async () => {
    const m = machine("m1");
    let hang = false;
    const c = withCall(m, (method, params, real) => (hang && method === "lock.heartbeat" ? new Promise(() => {}) : real(method, params)));
    const lock = await acquireLocks([c], "deploy web", { project: "shop", staleAfterMs: 400 });
    hang = true;
    await sleep(250);
    assert.match((await within(lock.check(), 2000)) ?? "", /m1 has not confirmed the deploy lock for \d/);
    hang = false;
    await lock.release();
  });

  it("one failed heartbeat is retried before the lock counts as lost", async () => {
    const m = machine("m1");
    let fail = 0;
    const c = withCall(m, (method, params, real) => (method === "lock.heartbeat" && fail-- > 0 ? Promise.reject(new UserError("m1: lost the connection to the agent")) : real(method, params)));
    const lock = await acquireLocks([c], "deploy web", { project: "shop", staleAfterMs: 400 });
    await sleep(250);
    fail = 1;
    assert.equal(await within(lock.check(), 2000), undefined);
    await lock.release();
  });

  it("a machine that stops confirming after the last batch does not revert a finished deploy: it is a warning", async () => {
    const [m] = await threeReleases(["m1"]);
    let hang = false;
    const c = withCall(m!, (method, params, real) => (hang && method === "lock.heartbeat" ? new Promise(() => {}) : real(method, params)));
    const lock = await acquireLocks([c], "deploy web", { project: "shop", staleAfterMs: 400 });
    const notes: string[] = [];
    let checks = 0;
    const r = await within(
      rollout(input(lock.clients, 2, 1, {
        reporter: { emit: (e: { type: string; message?: string }) => void (e.type === "note" && notes.push(e.message ?? "")) } as RolloutInput["reporter"],
        checkLock: async (o?: CheckOptions) => {
          if (++checks === 2) {
            hang = true;
            await sleep(250);
          }
          return lock.check(o);
        },
      })),
      3000,
    );
    assert.equal(r.ok, true, r.failure?.reason);
    assert.equal(m!.store.state("shop", "web").active, 2);
    assert.match(notes.join("\n"), /m1 has not confirmed the deploy lock/);
    hang = false;
    await lock.release();
  });
});

describe("no lock left behind", () => {
  it("a lock.acquire whose reply was lost is released too", async () => {
    const ms = ["m1", "m2"].map(machine);
    const c2 = withCall(ms[1]!, async (method, params, real) => {
      const r = await real(method, params);
      if (method === "lock.acquire") throw new UserError("m2: lost the connection to the agent (exit 255: ssh itself failed)");
      return r;
    });
    await assert.rejects(acquireLocks([ms[0]!.client, c2], "deploy web", { project: "shop" }), /lost the connection/);
    assert.equal(ms[1]!.store.lockInfo("shop"), undefined, "m2 did the mkdir: its lock is released");
    assert.equal(ms[0]!.store.lockInfo("shop"), undefined);
  });

  it("a machine whose agent never answers the first round is unreachable after reachMs: the first machine's lock goes back", async () => {
    const ms = ["m1", "m2"].map(machine);
    const c2 = withCall(ms[1]!, (method, params, real) => (method === "ping" ? new Promise(() => {}) : real(method, params)));
    const err = await within(acquireLocks([ms[0]!.client, c2], "deploy web", { project: "shop", reachMs: 200 }), 3000).then(() => undefined, (e: Error) => e);
    assert.ok(err instanceof UserError, String(err));
    assert.match(err.message, /^m2 unreachable; nothing was changed on any machine\nm2: no answer to a ping within 0\.2s \(the machine or its agent does not answer\)/);
    assert.match(err.hint ?? "", /skiff machines check.*m2.*--skip-unreachable/);
    assert.equal(ms[0]!.store.lockInfo("shop"), undefined, "m1's lock, taken in the same round, is released");
  });

  it("a first machine that hangs on lock.acquire and on the release: unreachable after reachMs, and said to maybe hold the lock", async () => {
    const ms = ["m1", "m2"].map(machine);
    const c1 = withCall(ms[0]!, (method, params, real) => (method === "lock.acquire" || method === "lock.release" ? new Promise(() => {}) : real(method, params)));
    const err = await within(acquireLocks([c1, ms[1]!.client], "deploy web", { project: "shop", reachMs: 200 }), 3000).then(() => undefined, (e: Error) => e);
    assert.ok(err instanceof UserError, String(err));
    assert.match(err.message, /^m1 unreachable; nothing was changed on any machine\nm1: no answer to the lock request within 0\.2s/);
    assert.match(err.message, /may still be held by this deploy on m1 \(no answer to the lock release within 0\.2s\)/);
    assert.equal(ms[1]!.store.lockInfo("shop"), undefined);
  });

  it("--skip-unreachable: a first machine that answers lock.acquire only after reachMs is left out, and the lock it took late is given back", async () => {
    const ms = ["m1", "m2"].map(machine);
    const c1 = withCall(ms[0]!, async (method, params, real) => {
      if (method === "lock.acquire") await sleep(400);
      return real(method, params);
    });
    const lock = await within(acquireLocks([c1, ms[1]!.client], "deploy web", { project: "shop", reachMs: 200, skipUnreachable: true }), 3000);
    assert.deepEqual(lock.clients.map((c) => c.machine), ["m2"]);
    assert.deepEqual(lock.unreachable.map((u) => u.machine), ["m1"]);
    assert.ok(ms[1]!.store.lockInfo("shop"), "m2 is locked");
    // Its answer comes 400 ms after it was asked, and the release right behind it: waited for, not a fixed sleep.
    for (let waited = 0; ms[0]!.store.lockInfo("shop") && waited < 5000; waited += 50) await sleep(50);
    assert.equal(ms[0]!.store.lockInfo("shop"), undefined, "m1's late lock was given back");
    await lock.release();
    assert.equal(ms[1]!.store.lockInfo("shop"), undefined);
  });

  it("a release that fails names the machines that still hold the lock", async () => {
    const ms = ["m1", "m2"].map(machine);
    ms[0]!.failWith.set("lock.release", "ECONNRESET");
    ms[1]!.failWith.set("lock.acquire", "ENOSPC");
    const err = await acquireLocks(ms.map((m) => m.client), "deploy web", { project: "shop" }).then(() => undefined, (e: Error) => e);
    assert.ok(err);
    assert.match(err.message, /disk of .* is full/);
    assert.match(err.message, /the deploy lock of project shop may still be held by this deploy on m1/);
  });

  it("with --wait, our own lock left on a machine by a failed undo does not block the next try", async () => {
    const ms = ["m1", "m2"].map(machine);
    ms[1]!.store.acquireLock("shop", other);
    let failRelease = 1;
    const c1 = withCall(ms[0]!, (method, params, real) => (method === "lock.release" && failRelease-- > 0 ? Promise.reject(new UserError("m1: lost the connection to the agent")) : real(method, params)));
    const warnings: string[] = [];
    const got = acquireLocks([c1, ms[1]!.client], "deploy web", { project: "shop", waitMs: 8000, warn: (w) => warnings.push(w) });
    await sleep(300);
    ms[1]!.store.releaseLock("shop", { force: true });
    const lock = await within(got, 7000);
    assert.equal(lock.clients.length, 2);
    assert.match(warnings.join("\n"), /may still be held by this deploy on m1 \(m1: lost the connection/);
    await lock.release();
    for (const m of ms) assert.equal(m.store.lockInfo("shop"), undefined);
  });
});

describe("taking the lock", () => {
  const probe: LockInfo = { holder: "probe#1", host: "h", pid: 1, command: "probe", since: "now", heartbeat: "now" };
  /** Who holds the project's lock on the machine now (asked by taking it, and giving it back). */
  const holderOn = (m: FakeMachine): string | undefined => {
    const r = m.store.acquireLock("shop", probe);
    if (r.ok) return void m.store.releaseLock("shop", { holder: probe.holder });
    return r.holder?.holder ?? "someone";
  };
  const cannotConnect = () => Promise.reject(new UserError("ssh: connect to host 10.0.0.9 port 22: Connection timed out", { hint: "is the machine up?" }));

  it("the first machine's lock is asked for in the round trip that reaches the others, then the others' in one more", async () => {
    const ms = ["m1", "m2", "m3"].map(machine);
    const log: string[] = [];
    const clients = ms.map((m) =>
      withCall(m, async (method, params, real) => {
        log.push(`${m.name} ${method}`);
        // The first machine answers late: the others are reached meanwhile, not after it.
        if (m.name === "m1") await sleep(30);
        const r = await real(method, params);
        log.push(`${m.name} ${method} answered`);
        return r;
      }),
    );
    const lock = await acquireLocks(clients, "deploy web", { project: "shop" });
    assert.deepEqual(log.slice(0, 3), ["m1 lock.acquire", "m2 ping", "m3 ping"]);
    assert.ok(log.indexOf("m1 lock.acquire answered") < log.indexOf("m2 lock.acquire"), log.join(" | "));
    assert.deepEqual(log.filter((l) => / (ping|lock\.acquire)$/.test(l)), ["m1 lock.acquire", "m2 ping", "m3 ping", "m2 lock.acquire", "m3 lock.acquire"]);
    assert.deepEqual(ms.map(holderOn), [lock.holder, lock.holder, lock.holder]);
    await lock.release();
    assert.deepEqual(ms.map(holderOn), [undefined, undefined, undefined]);
  });

  it("a machine that cannot be reached: an error naming it, and the first machine's lock, taken meanwhile, given back", async () => {
    const ms = ["m1", "m2", "m3"].map(machine);
    const clients = ms.map((m) => (m.name === "m3" ? withCall(m, (method, params, real) => (method === "ping" ? cannotConnect() : real(method, params))) : m.client));
    await assert.rejects(acquireLocks(clients, "deploy web", { project: "shop" }), (e: UserError) => {
      assert.match(e.message, /^m3 unreachable; nothing was changed on any machine\nssh: connect to host/);
      assert.match(e.hint ?? "", /is the machine up\?; or pass --skip-unreachable to go on without m3/);
      return true;
    });
    assert.deepEqual(ms.map(holderOn), [undefined, undefined, undefined]);
  });

  it("the first machine unreachable with --skip-unreachable: the lock is taken on the others, nothing is asked of it again", async () => {
    const ms = ["m1", "m2", "m3"].map(machine);
    const asked: string[] = [];
    const clients = ms.map((m) => (m.name === "m1" ? withCall(m, (method) => (asked.push(method), cannotConnect())) : m.client));
    const warnings: string[] = [];
    const lock = await acquireLocks(clients, "deploy web", { project: "shop", skipUnreachable: true, warn: (w) => warnings.push(w) });
    assert.deepEqual(lock.unreachable.map((u) => u.machine), ["m1"]);
    assert.deepEqual(lock.clients.map((c) => c.machine), ["m2", "m3"]);
    assert.deepEqual(ms.map(holderOn), [undefined, lock.holder, lock.holder]);
    await lock.release();
    assert.deepEqual(ms.map(holderOn), [undefined, undefined, undefined]);
    assert.deepEqual(asked, ["lock.acquire"]);
    assert.deepEqual(warnings, []);
  });

  it("the first machine held by another deploy: refused naming it, and nothing is held anywhere", async () => {
    const ms = ["m1", "m2"].map(machine);
    ms[0]!.store.acquireLock("shop", other);
    await assert.rejects(acquireLocks(ms.map((m) => m.client), "deploy web", { project: "shop" }), /another deploy holds the lock of project shop on m1: other#1 \(deploy web/);
    assert.deepEqual(ms.map(holderOn), ["other#1", undefined]);
  });
});
