// The CLI's record of which machines run an app's instances during a rollout:
// a machine's peers are the other machines that serve the app (reached at their
// mesh frontend), told only when that set changed, peer-only machines at once.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MESH_PORT } from "../../src/contracts/mesh.ts";
import { PeerBook } from "../../src/exec/placement.ts";
import type { AgentClient } from "../../src/transport/agent-client.ts";

type Inst = { name: string; hostPort: number };
type Lists = Record<string, { active: number | null; instances: Inst[]; peers?: { name: string; addr: string; port: number }[] }>;

/** Private addresses: m1 → 10.0.0.1 … (a machine named in `noAddr` has none). */
const addrOf = (m: string) => `10.0.0.${m.slice(1)}`;

/** A channel to a machine that answers instances.list from `lists` and records peers.set (a stand-in for the agent's two methods). */
function machines(lists: Lists, noAddr: string[] = []) {
  const told: { machine: string; peers: string[] }[] = [];
  const asked: string[] = [];
  const clients = Object.keys(lists).map(
    (name) =>
      ({
        machine: name,
        transport: { machine: { name, privateAddress: noAddr.includes(name) ? undefined : addrOf(name) } },
        call: async (method: string, params: { peers?: { name: string; addr: string; port: number }[] }) => {
          if (method === "instances.list") {
            asked.push(name);
            return structuredClone(lists[name]);
          }
          if (method === "peers.set") {
            told.push({ machine: name, peers: params.peers!.map((p) => `${p.name}@${p.addr}:${p.port}`) });
            return true;
          }
          throw new Error(`unexpected ${method}`);
        },
      }) as unknown as AgentClient,
  );
  return { clients, told, asked };
}

const inst = (name: string, port = 5000): Inst => ({ name, hostPort: port });
const peer = (m: string) => `${m}@${addrOf(m)}:${MESH_PORT}`;

describe("PeerBook", () => {
  it("gives each machine the other machines that run an instance, at their mesh port; never itself, never one without a private address", async () => {
    const lists: Lists = {
      m1: { active: 1, instances: [inst("web-1-a"), inst("web-1-a2")] },
      m2: { active: 1, instances: [inst("web-1-b")] },
      m3: { active: 1, instances: [] },
      m4: { active: 1, instances: [inst("web-1-d")] },
    };
    const { clients, told } = machines(lists, ["m4"]);
    const book = new PeerBook("p", "web", clients);
    await book.refresh();
    assert.deepEqual(book.peerOnly().map((c) => c.machine), ["m3"]);
    await book.tell(clients);
    assert.deepEqual(
      told.sort((a, b) => a.machine.localeCompare(b.machine)),
      [
        { machine: "m1", peers: [peer("m2")] },
        { machine: "m2", peers: [peer("m1")] },
        { machine: "m3", peers: [peer("m1"), peer("m2")] },
        { machine: "m4", peers: [peer("m1"), peer("m2")] },
      ],
    );
  });

  it("a new release (new instance names, same machines) tells nobody; a machine that stops or starts serving tells the others", async () => {
    const lists: Lists = {
      m1: { active: 1, instances: [inst("web-1-a")] },
      m2: { active: 1, instances: [inst("web-1-b")] },
      m3: { active: 1, instances: [inst("web-1-c")] },
    };
    const { clients, told, asked } = machines(lists);
    const book = new PeerBook("p", "web", clients);
    await book.refresh([clients[0]!]);
    assert.deepEqual(asked.sort(), ["m1", "m2", "m3"], "the first refresh asks every machine");
    await book.tell(clients);
    assert.equal(told.length, 3);
    told.length = 0;
    asked.length = 0;
    // Every machine activated release 2: new instances, new ports, the same machines.
    lists.m1!.instances = [inst("web-2-a", 5001)];
    lists.m2!.instances = [inst("web-2-b", 5002)];
    await book.refresh(clients.slice(0, 2));
    assert.deepEqual(asked, ["m1", "m2"]);
    await book.tell(clients);
    assert.equal(told.length, 0, "the set of serving machines did not change");
    // m1 now runs none: m2 and m3 lose it; m1 itself still has both of them.
    lists.m1!.instances = [];
    await book.refresh([clients[0]!]);
    await book.tell(clients);
    assert.deepEqual(told.map((t) => `${t.machine}: ${t.peers.join(",")}`).sort(), [`m2: ${peer("m3")}`, `m3: ${peer("m2")}`]);
  });

  it("a machine that does not run the app yet is not told (its agent would ignore it); it hears once it has activated", async () => {
    const lists: Lists = {
      m1: { active: 1, instances: [inst("web-1-a")] },
      m2: { active: null, instances: [] },
      m3: { active: null, instances: [] },
    };
    const { clients, told } = machines(lists);
    const book = new PeerBook("p", "web", clients);
    await book.refresh();
    await book.tell(clients.slice(1));
    assert.equal(told.length, 0, "m2 and m3 have no backend for the app yet");
    // Their first release: no instances of their own, so they serve through m1.
    lists.m2 = { active: 1, instances: [] };
    lists.m3 = { active: 1, instances: [] };
    await book.refresh(clients.slice(1));
    assert.deepEqual(book.peerOnly().map((c) => c.machine), ["m2", "m3"]);
    await book.tell(clients);
    assert.deepEqual(told.map((t) => `${t.machine}: ${t.peers.join(",")}`).sort(), ["m1: ", `m2: ${peer("m1")}`, `m3: ${peer("m1")}`]);
  });

  it("nobody is told while a machine's instances are unknown; a machine that stops answering keeps what it said last", async () => {
    const lists: Lists = { m1: { active: 1, instances: [inst("a")] }, m2: { active: 1, instances: [inst("b")] } };
    const { clients, told } = machines(lists);
    const m2 = clients[1]!;
    const real = m2.call.bind(m2) as (m: string, p: unknown) => Promise<unknown>;
    let down = true;
    (m2 as { call: unknown }).call = async (method: string, params: unknown) => {
      if (method === "instances.list" && down) throw new Error("lost the connection");
      return real(method, params);
    };
    const book = new PeerBook("p", "web", clients);
    await book.refresh();
    await book.tell(clients);
    assert.equal(told.length, 0, "m2's instances are unknown: m1 would lose it from its peers");
    down = false;
    await book.tell(clients);
    assert.deepEqual(told.map((t) => t.machine).sort(), ["m1", "m2"], "asked again before telling");
    told.length = 0;
    down = true;
    await book.refresh([m2]);
    assert.deepEqual(book.peersOf("m1").map((x) => x.name), ["m2"], "m2's last answer stands");
  });

  it("a machine that says which peers it has is told only where they differ; one that said its instances (an activation's result) is not asked", async () => {
    const at = (m: string) => ({ name: m, addr: addrOf(m), port: MESH_PORT });
    const lists: Lists = {
      // m1 has its peers (listed in another order), m2 lacks m3, m3 has an old address for m1.
      m1: { active: 1, instances: [inst("a")], peers: [at("m3"), at("m2")] },
      m2: { active: 1, instances: [inst("b")], peers: [at("m1")] },
      m3: { active: 1, instances: [inst("c")], peers: [{ ...at("m1"), addr: "10.9.9.9" }, at("m2")] },
    };
    const { clients, told, asked } = machines(lists);
    const book = new PeerBook("p", "web", clients);
    await book.refresh();
    await book.tell(clients);
    assert.deepEqual(told.map((t) => `${t.machine}: ${t.peers.join(",")}`).sort(), [`m2: ${peer("m1")},${peer("m3")}`, `m3: ${peer("m1")},${peer("m2")}`]);
    told.length = 0;
    asked.length = 0;
    // m1 activated release 2 and said so with its result: nobody asks it, nobody is told anything.
    book.learn("m1", { active: 2, instances: [inst("a2", 5001)], peers: [at("m2"), at("m3")] });
    await book.refresh([]);
    await book.tell(clients);
    assert.deepEqual([asked, told], [[], []]);
    // Now m1 says it runs none: m2 and m3 lose it, without anyone being asked.
    book.learn("m1", { active: 3, instances: [], peers: [at("m2"), at("m3")] });
    await book.refresh([]);
    await book.tell(clients);
    assert.deepEqual(asked, []);
    assert.deepEqual(told.map((t) => `${t.machine}: ${t.peers.join(",")}`).sort(), [`m2: ${peer("m3")}`, `m3: ${peer("m2")}`]);
  });

  it("tells a machine again after a failed peers.set", async () => {
    const lists: Lists = { m1: { active: 1, instances: [inst("a")] }, m2: { active: 1, instances: [inst("b")] } };
    const { clients, told } = machines(lists);
    const flaky = clients[1]!;
    const real = flaky.call.bind(flaky);
    let fail = true;
    (flaky as { call: unknown }).call = async (method: string, params: unknown) => {
      if (method === "peers.set" && fail) {
        fail = false;
        throw new Error("lost the connection");
      }
      return (real as (m: string, p: unknown) => Promise<unknown>)(method, params);
    };
    const book = new PeerBook("p", "web", clients);
    await book.refresh();
    await book.tell(clients);
    assert.deepEqual(told.map((t) => t.machine), ["m1"]);
    await book.tell(clients);
    assert.deepEqual(told.map((t) => t.machine), ["m1", "m2"]);
  });
});

describe("peers in a rollout", async () => {
  const { rollout } = await import("../../src/exec/rollout.ts");
  const { fleet, spec } = await import("./fake-machine.ts");
  const machine = fleet("skiff-peers-rollout-");
  /** Notes each call of these methods to `log` ("peers.set m2"), in order. */
  const logCalls = (ms: ReturnType<typeof machine>[], methods: string[], log: string[]) => {
    for (const m of ms) {
      const call = m.client.call.bind(m.client) as (method: string, params?: unknown) => Promise<unknown>;
      (m.client as { call: unknown }).call = async (method: string, params?: unknown) => {
        if (methods.includes(method)) log.push(`${method} ${m.name}`);
        return call(method, params);
      };
    }
  };

  async function run(placement?: Record<string, number>) {
    const ms = ["m1", "m2", "m3"].map((n) => machine(n));
    for (const m of ms) {
      m.store.putRelease(spec("shop", "web", 1));
      m.store.putRelease(spec("shop", "web", 2));
      await m.core.activate({ project: "shop", app: "web", release: 1, machine: m.name, action: "deploy", bindAddress: "127.0.0.1" });
    }
    // Which machine was told its peers, in order, with the activations between.
    const log: string[] = [];
    logCalls(ms, ["peers.set", "activate"], log);
    const r = await rollout({
      project: "shop", app: "web", target: 2, previous: new Map(ms.map((m) => [m.name, 1])), clients: ms.map((m) => m.client), waves: [["m1"], ["m2"], ["m3"]], placement,
      action: "deploy", deployId: "d", by: "test", keepWarm: false, reporter: { emit() {} }, interrupted: () => false,
    });
    assert.equal(r.ok, true, r.failure?.reason);
    return log;
  }

  it("a rollback with the same machines serving asks no machine for its instances and tells none its peers: the activations said it all", async () => {
    const ms = ["m1", "m2", "m3"].map((n) => machine(n));
    for (const m of ms) {
      m.store.putRelease(spec("shop", "web", 1));
      m.store.putRelease(spec("shop", "web", 2));
    }
    const log: string[] = [];
    logCalls(ms, ["peers.set", "instances.list"], log);
    const go = async (target: number, previous: number | null) => {
      log.length = 0;
      const r = await rollout({
        project: "shop", app: "web", target, previous: new Map(ms.map((m) => [m.name, previous])), clients: ms.map((m) => m.client), maxParallel: 3,
        action: previous === null || target > previous ? "deploy" : "rollback", deployId: "d", by: "test", keepWarm: false, reporter: { emit() {} }, interrupted: () => false,
      });
      assert.equal(r.ok, true, r.failure?.reason);
      assert.ok(r.switched.every((s) => !("list" in s)), "what a machine said of itself is not part of the rollout's result");
      return [...log].sort();
    };
    assert.deepEqual(await go(1, null), ["peers.set m1", "peers.set m2", "peers.set m3"], "the first release: every machine hears of the others");
    assert.deepEqual(await go(2, 1), []);
    assert.deepEqual(await go(1, 2), []);
  });

  it("a deploy in waves that starts from the plan's picture of the instances asks no machine for them again", async () => {
    const ms = ["m1", "m2", "m3"].map((n) => machine(n));
    for (const m of ms) for (const n of [1, 2, 3, 4]) m.store.putRelease(spec("shop", "web", n));
    for (const m of ms) await m.core.activate({ project: "shop", app: "web", release: 1, machine: m.name, action: "deploy", bindAddress: "127.0.0.1" });
    const log: string[] = [];
    logCalls(ms, ["peers.set", "instances.list"], log);
    // What release.list sends a deploy's plan (the same answer as instances.list), read before the rollout.
    const known = async () => new Map(await Promise.all(ms.map(async (m) => [m.name, m.core.instanceList("shop", "web")] as const)));
    const go = async (target: number, seen?: Awaited<ReturnType<typeof known>>) => {
      log.length = 0;
      const r = await rollout({
        project: "shop", app: "web", target, previous: new Map(ms.map((m) => [m.name, target - 1])), clients: ms.map((m) => m.client), waves: [["m1"], ["m2", "m3"]],
        placement: { m1: 1, m2: 1, m3: 1 }, known: seen, action: "deploy", deployId: "d", by: "test", keepWarm: false, reporter: { emit() {} }, interrupted: () => false,
      });
      assert.equal(r.ok, true, r.failure?.reason);
      return [...log].sort();
    };
    await go(2); // each machine is told its peers (release 1 was activated here, without a rollout)
    assert.deepEqual(await go(3), ["instances.list m2", "instances.list m3"], "without it, the machines after the canary are asked once it has switched");
    assert.deepEqual(await go(4, await known()), []);
  });

  it("machines that keep instances of their own are told once, at the end", async () => {
    assert.deepEqual(await run({ m1: 1, m2: 1, m3: 1 }), ["activate m1", "activate m2", "activate m3", "peers.set m1", "peers.set m2", "peers.set m3"]);
  });

  it("a machine about to be left without instances (or with placement unknown) is told before its wave", async () => {
    assert.deepEqual(await run({ m1: 1, m2: 1, m3: 0 }), ["activate m1", "activate m2", "peers.set m3", "activate m3", "peers.set m1", "peers.set m2"]);
    assert.deepEqual(await run(undefined), ["activate m1", "peers.set m2", "activate m2", "peers.set m3", "activate m3", "peers.set m1"]);
  });
});
