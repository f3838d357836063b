// RPC parameters are checked at the boundary (contracts/rpc.ts): a bad one is an
// RPC error naming the method and the field, nothing runs, the agent goes on.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { agentInfo, handlers } from "../../src/agent/handlers.ts";
import { Jobs } from "../../src/agent/jobs.ts";
import { listen } from "../../src/agent/server.ts";
import { lineReader } from "../../src/contracts/protocol.ts";
import type { RpcResult } from "../../src/contracts/rpc.ts";
import { memAgent, release } from "./agent-fakes.ts";
import { fleet } from "./fake-machine.ts";

const dir = mkdtempSync(join(tmpdir(), "skiff-rpc-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const good = { project: "shop", app: "web", release: 1, machine: "m1", action: "deploy" };

const cases: [method: string, params: unknown, says: RegExp][] = [
  ["activate", { ...good, release: "1" }, /^invalid parameters for activate: params\.release: expected number, received string$/],
  ["activate", { ...good, action: "explode" }, /^invalid parameters for activate: params\.action: .*"deploy"\|"rollback"\|"scale"/],
  ["activate", { ...good, holder: "" }, /^invalid parameters for activate: params\.holder: Too small/],
  ["activate", undefined, /^invalid parameters for activate: params: expected object, received undefined$/],
  ["hook.run", { project: "shop", app: "web", release: 1.5, machine: "m1" }, /^invalid parameters for hook\.run: params\.release: expected int/],
  ["release.put", { spec: { ...release(1), imageId: undefined, health: { path: "/" } } }, /^invalid parameters for release\.put: params\.spec\.imageId: expected string, received undefined; params\.spec\.health\.intervalMs: expected number/],
  ["release.get", { project: "shop", app: "web", release: -1 }, /^invalid parameters for release\.get: params\.release: Too small/],
  ["peers.set", { project: "shop", app: "web", peers: [{ name: "a", addr: "10.0.0.2", port: 70000 }] }, /^invalid parameters for peers\.set: params\.peers\.0\.port: Too big/],
  ["job.wait", {}, /^invalid parameters for job\.wait: params\.job: expected string, received undefined$/],
  ["lock.acquire", { project: "shop", info: { holder: "", host: "h", command: "c", since: "s" } }, /^invalid parameters for lock\.acquire: params\.info\.holder: Too small/],
  ["lock.release", { project: "shop", force: "yes" }, /^invalid parameters for lock\.release: params\.force: expected boolean, received string$/],
  ["lock.info", {}, /^invalid parameters for lock\.info: params\.project: expected string, received undefined$/],
  ["history", "shop", /^invalid parameters for history: params: expected object, received string$/],
  ["app.remove", { project: "shop", app: 7 }, /^invalid parameters for app\.remove: params\.app: expected string, received number$/],
  ...(() => {
    const entry = { at: "2026-11-29T23:00:00.000Z", project: "shop", app: "web", release: 3, action: "deploy", result: "ok", durationMs: 1200 };
    return [
      ["history.add", { machine: "m1", entry: { ...entry, at: "yesterday" } }, /^invalid parameters for history\.add: params\.entry\.at: /],
      ["history.add", { machine: "m1", entry: { ...entry, phases: { lock: 1, mine: 2 } } }, /^invalid parameters for history\.add: params\.entry\.phases/],
      ["history.add", { machine: "m1", entry: { ...entry, reason: "x".repeat(5000) } }, /^invalid parameters for history\.add: params\.entry\.reason: Too big/],
    ] as [string, unknown, RegExp][];
  })(),
];

describe("RPC parameters at the boundary", () => {
  it("bad parameters to each method: an error naming the method and the field, and nothing done", async () => {
    const a = memAgent();
    const table = handlers(agentInfo("/nonexistent", new Date()), a.core, new Jobs());
    for (const [method, params, says] of cases) {
      let err: (Error & { code?: string }) | undefined;
      try {
        await table[method]!(params);
      } catch (e) {
        err = e as Error;
      }
      assert.ok(err, `${method} ${JSON.stringify(params)} was accepted`);
      assert.match(err.message, says, method);
      assert.equal(err.code, "EPARAMS");
    }
    assert.deepEqual(a.store.history(), [], "no job ran");
    assert.deepEqual(a.store.releases("shop", "web"), []);
    assert.equal(a.store.lockInfo("shop"), undefined);
  });

  it("over the socket: an RPC error with code EPARAMS, and the next call is served", async () => {
    const a = memAgent();
    const path = join(dir, "a.sock");
    const server = await listen(path, handlers(agentInfo("/nonexistent", new Date()), a.core, new Jobs()));
    try {
      const got = await new Promise<unknown[]>((resolve, reject) => {
        const out: unknown[] = [];
        const c = createConnection(path);
        c.on("error", reject);
        c.on("data", lineReader((v) => (out.push(v), out.length === 2 && (c.end(), resolve(out)))));
        c.write('{"id":1,"method":"release.list","params":{"project":"shop"}}\n{"id":2,"method":"release.list","params":{"project":"shop","app":"web"}}\n');
      });
      const byId = Object.fromEntries((got as { id: number }[]).map((r) => [r.id, r]));
      assert.deepEqual(byId[1], { id: 1, error: { message: "invalid parameters for release.list: params.app: expected string, received undefined", code: "EPARAMS" } });
      assert.deepEqual(byId[2], { id: 2, result: { releases: [], active: null } });
    } finally {
      server.close();
    }
  });

  it("a release spec is stored as sent: fields the agent does not know and the order of fields stay", async () => {
    const a = memAgent();
    const table = handlers(agentInfo("/nonexistent", new Date()), a.core, new Jobs());
    const spec = { futureField: { x: 1 }, ...release(1) };
    assert.equal(await table["release.put"]!({ spec }), true);
    const stored = readFileSync(join(a.store.dir, "apps/shop/web/releases/1.json"), "utf8");
    assert.equal(stored, JSON.stringify(spec, null, 2) + "\n");
  });

  it("the typed client call: params and result from the same schema", async () => {
    const m = fleet("skiff-rpc-typed-")("m1");
    await m.client.call("release.put", { spec: release(1) });
    const list: RpcResult<"release.list"> = await m.client.call("release.list", { project: "shop", app: "web" });
    assert.deepEqual(list, { releases: [1], active: null });
    await assert.rejects(m.client.call("release.list", { project: "shop", app: "" }), /agent refused release\.list: invalid parameters for release\.list: params\.app: Too small/);
  });
});
