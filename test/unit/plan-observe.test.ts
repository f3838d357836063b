// The observer against real agents (the in-process fleet: the agent's handler table
// over a JSON channel): it reads only, in two rounds, and what it reads plans the
// same as the in-memory state the planner tests use.
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { deploySpecs, observe, rollbackSpecs } from "../../src/exec/observe.ts";
import { planRollback } from "../../src/plan/rollback.ts";
import { AgentRefused, type AgentClient } from "../../src/transport/agent-client.ts";
import { planDeploy } from "../../src/plan/deploy.ts";
import { changeCount } from "../../src/plan/model.ts";
import { specFor } from "../../src/plan/release-spec.ts";
import { activateOn, fleet } from "./fake-machine.ts";
import { facts, IMAGE_ID, project, release } from "./plan-fixtures.ts";

/** Every file under a machine's state dir with its content and mtime. */
function files(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else out[p] = `${st.mtimeMs} ${readFileSync(p, "base64")}`;
    }
  };
  walk(dir);
  return out;
}

describe("observe", () => {
  const machine = fleet("skiff-observe-");

  it("reads the machines' releases, capacity and images without changing anything, and plans from them", async () => {
    const p = project();
    const ms = [machine("m1"), machine("m2")];
    const v1 = release(p, facts(), 1);
    for (const m of ms) await m.client.call("release.put", { spec: specFor(v1, m.name) });
    for (const m of ms) assert.equal((await activateOn(m, 1)).ok, true);
    const calls: string[] = [];
    const clients = ms.map((m) => ({ ...m.client, machine: m.name, call: (method: string, params?: unknown) => (calls.push(method), m.client.call(method, params)) }) as unknown as AgentClient);
    const before = ms.map((m) => files(m.dir));

    const o = await observe(clients, p, { apps: ["web"], capacity: true, specs: deploySpecs, images: [{ id: IMAGE_ID, runtime: "docker" }] });
    assert.deepEqual(ms.map((m) => files(m.dir)), before, "observing wrote nothing");
    assert.deepEqual([...new Set(calls)].sort(), ["capacity", "image.has", "release.get", "release.list"]);
    assert.deepEqual(o.machines.map((m) => [m.machine, m.apps.web, Object.keys(m.specs.web!)]), [["m1", { releases: [1], active: 1 }, ["1"]], ["m2", { releases: [1], active: 1 }, ["1"]]]);
    assert.deepEqual(o.machines[0]!.capacity!.apps, [{ project: "shop", app: "web", active: 1, instances: 1 }]);

    const same = planDeploy(p, o, { apps: [], ...facts() });
    assert.equal(changeCount(same), 0, JSON.stringify(same));
    assert.equal(same.apps[0]!.release, 1);
    const changed = planDeploy(project({ level: "debug" }), o, { apps: [], ...facts() });
    assert.deepEqual([changed.apps[0]!.release, changeCount(changed)], [2, 2]);
  });

  /** Three releases deployed on two machines. */
  async function threeReleases(p: ReturnType<typeof project>) {
    const ms = [machine("m1"), machine("m2")];
    for (const n of [1, 2, 3]) {
      const v = release(p, facts(), n);
      for (const m of ms) await m.client.call("release.put", { spec: specFor(v, m.name) });
      for (const m of ms) assert.equal((await activateOn(m, n)).ok, true);
    }
    return ms;
  }

  /** Clients of `ms` that note each call ("m1 release.get 2"), as agents of today or, with `old`, as older ones:
   *  without history.served (the server's answer to a method it does not know), or without release.list's specs
   *  (the parameter is not in their contract, and they answer without). */
  function watched(ms: ReturnType<typeof machine>[], old?: "history.served" | "release.list specs") {
    const calls: string[] = [];
    const clients = ms.map(
      (m) =>
        ({
          ...m.client,
          machine: m.name,
          call: async (method: string, params?: unknown) => {
            calls.push(`${m.name} ${method}${method === "release.get" ? ` ${(params as { release: number }).release}` : ""}`);
            if (old === "history.served" && method === "history.served") throw new AgentRefused(m.name, `${m.name}: unknown method ${method}`, "ENOMETHOD");
            const r = (await m.client.call(method, params)) as Record<string, unknown>;
            if (old === "release.list specs" && method === "release.list") delete r.specs;
            return r;
          },
        }) as unknown as AgentClient,
    );
    return { calls, clients, methods: () => [...new Set(calls.map((c) => c.split(" ")[1]!))].sort() };
  }

  it("a rollback's observation asks each machine for the releases that served, not its history; an agent without history.served sends its history and plans the same", async () => {
    const p = project();
    const ms = await threeReleases(p);
    const now = watched(ms);
    const o = await observe(now.clients, p, { apps: ["web"], history: true, specs: rollbackSpecs() });
    assert.deepEqual(now.methods(), ["history.served", "release.get", "release.list"]);
    assert.deepEqual(o.machines.map((m) => [m.served?.web?.releases, Object.keys(m.served?.web?.rejected ?? {}), Object.keys(m.served?.web?.at ?? {})]), [[[1, 2, 3], [], ["1", "2", "3"]], [[1, 2, 3], [], ["1", "2", "3"]]]);
    const before = watched(ms, "history.served");
    const o2 = await observe(before.clients, p, { apps: ["web"], history: true, specs: rollbackSpecs() });
    assert.ok(before.methods().includes("history"));
    assert.deepEqual(planRollback(p, o2, { apps: [] }), planRollback(p, o, { apps: [] }));
    assert.equal(planRollback(p, o, { apps: [] }).apps[0]!.to, 2);
  });

  it("a rollback's first round brings each machine's active spec and its likely target's: a second round only where the target differs, or for an older agent", async () => {
    const p = project();
    const ms = await threeReleases(p);
    // m2 alone went back to 1 and forward to 3 again: by its history the way back is 1 (it ran last there), by
    // m1's it is 2; over both machines it is 1.
    assert.equal((await activateOn(ms[1]!, 1, { action: "rollback" })).ok, true);
    assert.equal((await activateOn(ms[1]!, 3, { action: "rollback" })).ok, true);
    const twoRounds = await observe(watched(ms).clients, p, { apps: ["web"], history: true, specs: rollbackSpecs() });
    const now = watched(ms);
    const o = await observe(now.clients, p, { apps: ["web"], history: true, specs: rollbackSpecs(), rollback: {} });
    assert.deepEqual(now.calls.filter((c) => c.includes("release.get")), ["m1 release.get 1"], "only m1 reads the target it did not foresee");
    assert.deepEqual(planRollback(p, o, { apps: [] }), planRollback(p, twoRounds, { apps: [] }));
    assert.equal(planRollback(p, o, { apps: [] }).apps[0]!.to, 1);
    const asked = watched(ms);
    await observe(asked.clients, p, { apps: ["web"], specs: rollbackSpecs(2), rollback: { to: 2 } });
    assert.deepEqual(asked.calls.filter((c) => c.includes("release.get")), [], "--to 2: every machine sends its spec with the list");
    const before = watched(ms, "release.list specs");
    const o2 = await observe(before.clients, p, { apps: ["web"], history: true, specs: rollbackSpecs(), rollback: {} });
    assert.deepEqual(before.calls.filter((c) => c.includes("release.get")).sort(), ["m1 release.get 1", "m1 release.get 3", "m2 release.get 1", "m2 release.get 3"]);
    assert.deepEqual(planRollback(p, o2, { apps: [] }), planRollback(p, o, { apps: [] }));
  });

  it("a deploy's first round brings each machine's active spec and the first machine's newest releases': no second round, the same plan; an older agent is read in two", async () => {
    const p = project();
    const ms = await threeReleases(p);
    // A third machine that holds none of them: the candidates are read from m1 all the same.
    const fresh = machine("m3");
    const all = [...ms, fresh];
    const twoRounds = watched(all);
    const o2 = await observe(twoRounds.clients, p, { apps: ["web"], capacity: true, specs: deploySpecs });
    assert.deepEqual(twoRounds.calls.filter((c) => c.includes("release.get")).sort(), ["m1 release.get 1", "m1 release.get 2", "m1 release.get 3", "m2 release.get 3"]);
    const now = watched(all);
    const o = await observe(now.clients, p, { apps: ["web"], capacity: true, specs: deploySpecs, deploy: true });
    assert.deepEqual(now.calls.filter((c) => c.includes("release.get")), [], "every spec the plan reads came with the lists");
    assert.deepEqual(o.machines.map((m) => [m.machine, Object.keys(m.specs.web ?? {})]), [["m1", ["1", "2", "3"]], ["m2", ["3"]], ["m3", []]]);
    // With them, where the app's instances and peers stand on each machine (the rollout starts from it), as
    // instances.list says; a plan that is not a deploy's is not sent it.
    assert.deepEqual(o.machines.map((m) => m.apps.web!.list), await Promise.all(all.map((m) => m.client.call("instances.list", { project: "shop", app: "web" }))));
    assert.deepEqual(o.machines.map((m) => m.apps.web!.list?.instances.length), [1, 1, 0]);
    assert.ok(o2.machines.every((m) => m.apps.web!.list === undefined));
    for (const level of [undefined, "debug"] as const) {
      const q = project(level ? { level } : {});
      assert.deepEqual(planDeploy(q, o, { apps: [], ...facts() }), planDeploy(q, o2, { apps: [], ...facts() }));
    }
    // On the two machines that run it, the same config reuses release 3 (nothing to change), read in one round.
    const two = watched(ms);
    const same = planDeploy(p, await observe(two.clients, p, { apps: ["web"], capacity: true, specs: deploySpecs, deploy: true }), { apps: [], ...facts() });
    assert.deepEqual([same.apps[0]!.release, changeCount(same), two.calls.filter((c) => c.includes("release.get"))], [3, 0, []]);
    const before = watched(all, "release.list specs");
    const o3 = await observe(before.clients, p, { apps: ["web"], capacity: true, specs: deploySpecs, deploy: true });
    assert.deepEqual(before.calls.filter((c) => c.includes("release.get")).sort(), ["m1 release.get 1", "m1 release.get 2", "m1 release.get 3", "m2 release.get 3"]);
    assert.deepEqual(planDeploy(p, o3, { apps: [], ...facts() }), planDeploy(p, o, { apps: [], ...facts() }));
  });
});
