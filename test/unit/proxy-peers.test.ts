// placePeers: the app's instances on other machines in a backend's peer slots, the
// new ones in (and UP, when they take traffic) before the gone ones go out.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { placePeers, type SlotApi } from "../../src/agent/proxy-peers.ts";
import { addPeerSlots, peerSlots } from "../../src/proxy/peer-slots.ts";
import { MIN_PEER_SLOTS, type ProxyBackend } from "../../src/proxy/model.ts";

function recorder() {
  const calls: string[] = [];
  const api = {
    setState: async (_b: string, s: string, st: string) => void calls.push(`${s} ${st}`),
    setAddr: async (_b: string, s: string, a: string, p: number) => void calls.push(`${s} @${a}:${p}`),
    healthUp: async () => {},
  } as unknown as SlotApi;
  let reloads = 0;
  const deps = { api, reload: async () => void reloads++, waitUp: async () => true, log: () => {} };
  return { calls, deps, reloads: () => reloads };
}

function backend(): ProxyBackend {
  const b: ProxyBackend = { name: "skiff_shop_web", routes: [{ path: "/" }], healthPath: "/", intervalMs: 1000, slots: [] };
  addPeerSlots(b, "primary", MIN_PEER_SLOTS);
  addPeerSlots(b, "backup", MIN_PEER_SLOTS);
  return b;
}
const peer = (n: number) => ({ name: `web-${n}`, addr: `10.0.${n >> 8}.${n & 255}`, port: 5000 });

describe("placePeers", () => {
  it("a machine serving through its peers gets the new ones UP before the gone ones leave", async () => {
    const b = backend();
    const r = recorder();
    await placePeers(r.deps, b, [peer(1), peer(2)], true);
    r.calls.length = 0;
    await placePeers(r.deps, b, [peer(2), peer(3)], true);
    const readyNew = r.calls.indexOf("p1 ready");
    const outOld = r.calls.lastIndexOf("p1 maint");
    // p1 held web-1 and goes out; web-3 lands in the first free slot (p3) and is made ready first.
    assert.ok(r.calls.includes("p3 @10.0.0.3:5000"), r.calls.join(", "));
    assert.ok(r.calls.indexOf("p3 ready") < outOld && readyNew === -1, r.calls.join(", "));
    assert.deepEqual(peerSlots(b, "primary").filter((s) => s.instance).map((s) => `${s.name}=${s.instance}`), ["p2=web-2", "p3=web-3"]);
  });

  it("told the peers it has, it changes nothing", async () => {
    const b = backend();
    const r = recorder();
    await placePeers(r.deps, b, [peer(1), peer(2)], false);
    r.calls.length = 0;
    await placePeers(r.deps, b, [peer(2), peer(1)], false);
    assert.deepEqual(r.calls, []);
  });

  it("a large fleet's peers each get a slot of their own (slots grow once, with room)", async () => {
    const b = backend();
    const r = recorder();
    const many = Array.from({ length: 999 }, (_, i) => peer(i + 1));
    await placePeers(r.deps, b, many, false);
    const placed = peerSlots(b, "primary").filter((s) => s.instance);
    assert.equal(placed.length, 999);
    assert.equal(new Set(placed.map((s) => s.name)).size, 999);
    assert.deepEqual(new Set(placed.map((s) => s.instance)), new Set(many.map((p) => p.name)));
    assert.equal(r.reloads(), 1);
    // Backup peer slots mirror the primary ones.
    assert.equal(peerSlots(b, "backup").filter((s) => s.instance).length, 999);
    // …and are checked every 30 s (the most), set with that one reload.
    assert.equal(b.peerCheckMs, 30_000);
  });

  it("backup peers are checked more slowly as they grow: one reload when the pace would change twofold, not at every peer", async () => {
    const b = backend();
    const r = recorder();
    const upTo = (n: number) => Array.from({ length: n }, (_, i) => peer(i + 1));
    await placePeers(r.deps, b, upTo(3), false);
    assert.deepEqual([b.peerCheckMs, r.reloads()], [undefined, 0], "3 peers: every 2 s, as rendered");
    await placePeers(r.deps, b, upTo(7), false);
    assert.deepEqual([b.peerCheckMs, r.reloads()], [undefined, 0], "3.5 s is not twice 2 s");
    await placePeers(r.deps, b, upTo(8), false);
    assert.deepEqual([b.peerCheckMs, r.reloads()], [4000, 1]);
    await placePeers(r.deps, b, upTo(15), false);
    assert.deepEqual([b.peerCheckMs, r.reloads()], [4000, 1]);
    // 19 peers: past the 16 slots, which grow with a reload of their own; the new pace comes with it.
    await placePeers(r.deps, b, upTo(19), false);
    assert.deepEqual([b.peerCheckMs, r.reloads()], [9500, 2]);
    // Back to 2 peers: 2 s again.
    await placePeers(r.deps, b, upTo(2), false);
    assert.deepEqual([b.peerCheckMs, r.reloads()], [2000, 3]);
  });

  it("a pace whose reload fails is not kept: the state says what HAProxy runs", async () => {
    const b = backend();
    const r = recorder();
    const upTo = (n: number) => Array.from({ length: n }, (_, i) => peer(i + 1));
    await assert.rejects(placePeers({ ...r.deps, reload: async () => Promise.reject(new Error("haproxy -c failed")) }, b, upTo(8), false), /haproxy -c failed/);
    assert.equal(b.peerCheckMs, undefined);
    await placePeers(r.deps, b, upTo(8), false);
    assert.deepEqual([b.peerCheckMs, r.reloads()], [4000, 1], "the next change tries again");
  });
});
