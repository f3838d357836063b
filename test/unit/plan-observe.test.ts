// The observer against real agents (the in-process fleet: the agent's handler table
// over a JSON channel): it reads only, in two rounds, and what it reads plans the
// same as the in-memory state the planner tests use.
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { deploySpecs, observe } from "../../src/exec/observe.ts";
import { planDeploy } from "../../src/plan/deploy.ts";
import { changeCount } from "../../src/plan/model.ts";
import { specFor } from "../../src/plan/release-spec.ts";
import type { AgentClient } from "../../src/transport/agent-client.ts";
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
});
