// The agent and a TCP app's release: its backend is asked for with its internal
// port and no health path, its gate probes with a TCP connect (no path), with
// the same semantics as HTTP (healthy_threshold passes; the deadline fails it).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ProxyBackend } from "../../src/proxy/model.ts";
import { memAgent } from "./agent-fakes.ts";

const tcp = { protocol: "tcp" as const, internalPort: 7000, routes: [], health: { intervalMs: 500, timeoutMs: 200, healthyThreshold: 2, deadlineMs: 3000 } };

describe("a TCP app's activation", () => {
  it("its backend carries the internal port and no health path; the gate connects (no path) healthy_threshold times", async () => {
    const a = memAgent();
    const asked: { name: string; opts: Partial<ProxyBackend> & { tcpPort?: number } }[] = [];
    Object.assign(a.proxy, { ensureBackend: async (name: string, opts: object) => void asked.push({ name, opts }) });
    const r = await a.deploy(1, {}, tcp);
    assert.equal(r.ok, true, r.reason);
    assert.equal(asked.length, 1);
    assert.equal(asked[0]!.opts.tcpPort, 7000);
    assert.equal(asked[0]!.opts.healthPath, undefined);
    assert.deepEqual(a.runtime.probedPaths, [undefined, undefined]);
    assert.equal(a.proxy.serving().length, 1);
  });

  it("an HTTP release still asks for no TCP port and probes its path", async () => {
    const a = memAgent();
    const asked: { tcpPort?: number; healthPath?: string }[] = [];
    Object.assign(a.proxy, { ensureBackend: async (_n: string, opts: { tcpPort?: number; healthPath?: string }) => void asked.push(opts) });
    assert.equal((await a.deploy(1)).ok, true);
    assert.deepEqual([asked[0]!.tcpPort, asked[0]!.healthPath], [undefined, "/healthz"]);
    assert.ok(a.runtime.probedPaths.length > 0 && a.runtime.probedPaths.every((p) => p === "/healthz"));
  });

  it("one that never accepts fails at the deadline, saying its check was a TCP connect", async () => {
    const a = memAgent();
    a.runtime.programs.set(1, { healthyAfterMs: 60_000 });
    const r = await a.deploy(1, {}, tcp);
    assert.equal(r.ok, false);
    assert.match(r.reason!, /was not healthy within the 3s deadline \(last TCP connect: /);
  });
});
