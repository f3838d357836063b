// The proxy controller apart from HAProxy: an in-memory Runtime API (servers
// come UP when made ready) and an in-memory process. What it asks HAProxy, when
// it reloads, and what it keeps when a reload is refused.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import type { HaproxyControl } from "../../src/agent/haproxy-process.ts";
import { ProxyController } from "../../src/agent/proxy.ts";
import type { SlotApi } from "../../src/agent/proxy-peers.ts";

const root = mkdtempSync(join(tmpdir(), "skiff-proxy-ctl-"));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

/** `dir`: an earlier controller's (an agent restarted over its files); `internalAddrs`: what the machine has;
 *  `servers`: an earlier controller's running HAProxy (it outlives the agent). */
function memHaproxy(o: { dir?: string; internalAddrs?: string[]; servers?: Map<string, { state: string; addr: string; port: number }> } = {}) {
  const servers = o.servers ?? new Map<string, { state: string; addr: string; port: number }>();
  const sent: string[] = [];
  const proc = { running: false, reloads: 0, refuse: false };
  const api: SlotApi = {
    info: async () => "",
    setState: async (b, s, state) => {
      sent.push(`${s} ${state}`);
      servers.set(`${b}/${s}`, { ...(servers.get(`${b}/${s}`) ?? { addr: "127.0.0.1", port: 1 }), state });
    },
    setAddr: async (b, s, addr, port) => {
      sent.push(`${s} addr ${addr}:${port}`);
      servers.set(`${b}/${s}`, { ...(servers.get(`${b}/${s}`) ?? { state: "maint" }), addr, port });
    },
    // A server made ready is UP at once (HAProxy's check passes).
    serverStates: async (b) => new Map([...servers].filter(([k]) => k.startsWith(`${b}/`)).map(([k, v]) => [k.split("/")[1]!, { op: v.state === "ready" ? 2 : 0, admin: 0, addr: v.addr, port: v.port }])),
    sessions: async () => new Map(),
    healthUp: async (_b, s) => void sent.push(`${s} health up`),
  };
  const haproxy: HaproxyControl = {
    running: () => proc.running,
    reachable: () => proc.running,
    startOrReload: async () => {
      if (proc.refuse) throw new Error("HAProxy did not start: injected");
      proc.running = true;
      proc.reloads++;
    },
    check: async () => {},
    softStop: () => void (proc.running = false),
  };
  const dir = o.dir ?? join(root, String(n++));
  const ctl = new ProxyController({ dir, statsSocket: join(dir, "s"), pidFile: join(dir, "p") }, 80, () => {}, { api, haproxy, sleep: async () => {}, hosts: null, internalAddrs: async () => o.internalAddrs });
  return { ctl, sent, proc, dir, servers };
}

const backend = "skiff_shop_web";
const opts = { routes: [{ path: "/" }], healthPath: "/healthz", intervalMs: 1000, freeSlots: 1 };

describe("the proxy controller", () => {
  it("an instance that just passed the agent's gate is marked UP at once; others wait for HAProxy's check", async () => {
    const h = memHaproxy();
    await h.ctl.ensureRunning();
    await h.ctl.ensureBackend(backend, { ...opts, freeSlots: 2 });
    const a = await h.ctl.enable(backend, "web-a", "127.0.0.1", 4001, { gated: true });
    const b = await h.ctl.enable(backend, "web-b", "127.0.0.1", 4002);
    assert.deepEqual(h.sent.filter((l) => l.startsWith(a)).slice(-2), [`${a} ready`, `${a} health up`], "health up right after ready");
    assert.ok(!h.sent.includes(`${b} health up`), "not gated: left to HAProxy's own check");
  });

  it("placedPeers says the peers the backend carries, as setPeers placed them (none for a backend it does not have)", async () => {
    const h = memHaproxy();
    await h.ctl.ensureRunning();
    await h.ctl.ensureBackend(backend, opts);
    assert.deepEqual(h.ctl.placedPeers(backend), []);
    const peers = [{ name: "m2", addr: "10.0.0.2", port: 7946 }, { name: "m3", addr: "10.0.0.3", port: 7946 }];
    await h.ctl.setPeers(backend, peers, false);
    assert.deepEqual(h.ctl.placedPeers(backend), peers);
    await h.ctl.setPeers(backend, [peers[1]!], false);
    assert.deepEqual(h.ctl.placedPeers(backend), [peers[1]]);
    assert.deepEqual(h.ctl.placedPeers("skiff_shop_other"), []);
  });

  it("placedPeers says nothing (the CLI tells them again) when the same peers told again would change their check pace", async () => {
    const h = memHaproxy();
    await h.ctl.ensureRunning();
    await h.ctl.ensureBackend(backend, opts);
    const peers = Array.from({ length: 20 }, (_, i) => ({ name: `m${i + 2}`, addr: `10.0.0.${i + 2}`, port: 7946 }));
    await h.ctl.setPeers(backend, peers, false);
    assert.deepEqual(h.ctl.placedPeers(backend), peers, "placed at the pace 20 peers call for");
    // A state saved before the pace was kept: 20 peers checked at the default 2 s.
    const file = join(h.dir, "state.json");
    const saved = JSON.parse(readFileSync(file, "utf8")) as { backends: { name: string; peerCheckMs?: number }[] };
    delete saved.backends.find((b) => b.name === backend)!.peerCheckMs;
    writeFileSync(file, JSON.stringify(saved));
    const again = memHaproxy({ dir: h.dir });
    assert.equal(again.ctl.placedPeers(backend), undefined);
    await again.ctl.setPeers(backend, peers, false);
    assert.deepEqual(again.ctl.placedPeers(backend), peers);
  });

  it("a new backend reloads once; the same one again does not", async () => {
    const h = memHaproxy();
    await h.ctl.ensureRunning();
    await h.ctl.ensureBackend(backend, opts);
    await h.ctl.ensureBackend(backend, opts);
    assert.equal(h.proc.reloads, 2, "one start, one reload for the new backend");
    assert.match(readFileSync(join(h.dir, "haproxy.cfg"), "utf8"), /backend skiff_shop_web/);
  });

  it("an agent restarted over its files keeps the internal addresses it had: its next activation reloads nothing", async () => {
    const internalAddrs = ["127.77.0.1", "172.17.0.1"];
    const h = memHaproxy({ internalAddrs });
    await h.ctl.ensureRunning();
    await h.ctl.ensureBackend(backend, opts);
    assert.deepEqual(h.ctl.snapshot().internalAddrs, internalAddrs);
    const again = memHaproxy({ dir: h.dir, internalAddrs });
    again.proc.running = true;
    assert.deepEqual(again.ctl.snapshot().internalAddrs, internalAddrs, "read back from state.json");
    await again.ctl.ensureRunning();
    await again.ctl.ensureBackend(backend, opts);
    assert.equal(again.proc.reloads, 0);
  });

  it("enable: a free slot is addressed while in maint, then made ready; the state file says so", async () => {
    const h = memHaproxy();
    await h.ctl.ensureBackend(backend, opts);
    const slot = await h.ctl.enable(backend, "web-1", "10.0.0.1", 20001);
    assert.equal(slot, "s1");
    assert.deepEqual(h.sent, ["s1 maint", "s1 addr 10.0.0.1:20001", "s1 ready"]);
    const saved = JSON.parse(readFileSync(join(h.dir, "state.json"), "utf8"));
    assert.deepEqual(saved.backends[0].slots.find((s: { name: string }) => s.name === "s1"), { name: "s1", addr: "10.0.0.1", port: 20001, state: "ready", instance: "web-1" });
  });

  it("deferred slot changes are written once, by flush(); an agent restarted before it finds the state as it was and puts HAProxy back to it", async () => {
    const h = memHaproxy();
    await h.ctl.ensureRunning();
    await h.ctl.ensureBackend(backend, { ...opts, freeSlots: 2 });
    await h.ctl.enable(backend, "web-1", "10.0.0.1", 20001, { gated: true });
    const stateFile = join(h.dir, "state.json");
    const before = readFileSync(stateFile, "utf8");
    const slotsOf = (text: string) => (JSON.parse(text) as { backends: { slots: { name: string; instance?: string; state: string; peer?: boolean }[] }[] }).backends[0]!.slots.filter((s) => !s.peer && s.instance).map((s) => `${s.name} ${s.instance} ${s.state}`);
    await h.ctl.enable(backend, "web-2", "10.0.0.2", 20002, { gated: true, defer: true });
    await h.ctl.release(backend, "web-1", "all", { defer: true });
    await h.ctl.peersActive(backend, false, { defer: true });
    assert.equal(readFileSync(stateFile, "utf8"), before, "nothing written yet");
    assert.deepEqual(h.ctl.snapshot().backends[0]!.slots.filter((s) => !s.peer && s.instance).map((s) => `${s.name} ${s.instance} ${s.state}`), ["s2 web-2 ready"], "the controller knows at once");
    // Dies here: the next agent reads the state before the run, and sync puts HAProxy's slots back to it. HAProxy
    // has every slot of its file (the in-memory API knows only those it was asked about).
    for (const sl of h.ctl.snapshot().backends[0]!.slots) if (!h.servers.has(`${backend}/${sl.name}`)) h.servers.set(`${backend}/${sl.name}`, { state: "maint", addr: "127.0.0.1", port: 1 });
    const again = memHaproxy({ dir: h.dir, servers: h.servers });
    again.proc.running = true;
    await again.ctl.sync();
    assert.equal(again.proc.reloads, 0, "slots put back through the Runtime API");
    assert.deepEqual(slotsOf(readFileSync(stateFile, "utf8")), ["s1 web-1 ready"]);
    const live = (name: string) => `${h.servers.get(`${backend}/${name}`)?.addr}:${h.servers.get(`${backend}/${name}`)?.port} ${h.servers.get(`${backend}/${name}`)?.state}`;
    assert.deepEqual([live("s1"), live("s2")], ["10.0.0.1:20001 ready", "127.0.0.1:1 maint"], `sync sent: ${again.sent.join(", ")}`);
    // The first agent lives on instead: flush writes the run, a second flush writes nothing.
    await h.ctl.flush();
    assert.deepEqual(slotsOf(readFileSync(stateFile, "utf8")), ["s2 web-2 ready"]);
    const ino = statSync(stateFile).ino;
    await h.ctl.flush();
    assert.equal(statSync(stateFile).ino, ino, "nothing left to write: no new file");
  });

  it("peersActive that changes nothing writes nothing", async () => {
    const h = memHaproxy();
    await h.ctl.ensureRunning();
    await h.ctl.ensureBackend(backend, opts);
    await h.ctl.enable(backend, "web-1", "10.0.0.1", 20001, { gated: true });
    const ino = statSync(join(h.dir, "state.json")).ino;
    await h.ctl.peersActive(backend, false);
    assert.equal(statSync(join(h.dir, "state.json")).ino, ino);
  });

  it("drain then release frees the slot for the next instance", async () => {
    const h = memHaproxy();
    await h.ctl.ensureBackend(backend, opts);
    await h.ctl.enable(backend, "web-1", "10.0.0.1", 20001);
    assert.equal((await h.ctl.drainAndRemove(backend, "web-1", 1000)).leftSessions, 0);
    assert.equal(h.ctl.slotOf(backend, "web-1"), undefined);
    assert.equal(await h.ctl.enable(backend, "web-2", "10.0.0.1", 20002), "s1");
  });

  it("a refused reload leaves the state and the files as HAProxy still runs them", async () => {
    const h = memHaproxy();
    await h.ctl.ensureBackend(backend, opts);
    const before = readFileSync(join(h.dir, "state.json"), "utf8");
    h.proc.refuse = true;
    await assert.rejects(h.ctl.ensureBackend("skiff_shop_api", { ...opts, routes: [{ path: "/api" }] }), /injected/);
    assert.deepEqual(h.ctl.snapshot().backends.map((b) => b.name), [backend]);
    assert.equal(readFileSync(join(h.dir, "state.json"), "utf8"), before);
  });

  it("the last backend removed soft-stops HAProxy", async () => {
    const h = memHaproxy();
    await h.ctl.ensureBackend(backend, opts);
    await h.ctl.removeBackend(backend);
    assert.equal(h.proc.running, false);
    assert.deepEqual(h.ctl.snapshot().backends, []);
  });
});

describe("proxy controller: ACME accounts (tls: auto)", () => {
  const T1 = "L-M9YUv6rSM8WW5uRnZL1khWloeyKnSyx0bmd9m8C0M";
  it("a project's account reloads once, the same again changes nothing, no hosts takes it away; a refused reload puts the state back", async () => {
    const h = memHaproxy();
    await h.ctl.ensureRunning();
    const reloads = h.proc.reloads;
    assert.equal(await h.ctl.setAcmeAccount("shop", T1, ["b.example.test", "a.example.test"]), true);
    assert.equal(h.proc.reloads, reloads + 1);
    assert.deepEqual(h.ctl.snapshot().acme, [{ project: "shop", thumbprint: T1, hosts: ["a.example.test", "b.example.test"] }]);
    assert.match(readFileSync(join(h.dir, "haproxy.cfg"), "utf8"), new RegExp(`\\]\\.${T1}" if acme_tok \\{ hdr\\(host\\),field\\(1,:\\) -i a\\.example\\.test b\\.example\\.test \\}`));
    assert.equal(await h.ctl.setAcmeAccount("shop", T1, ["a.example.test", "b.example.test"]), false);
    assert.equal(h.proc.reloads, reloads + 1);
    h.proc.refuse = true;
    await assert.rejects(h.ctl.setAcmeAccount("shop", T1, []), /injected/);
    assert.equal(h.ctl.snapshot().acme?.length, 1, "the state is what HAProxy still runs");
    h.proc.refuse = false;
    assert.equal(await h.ctl.setAcmeAccount("shop", T1, []), true);
    assert.equal(h.ctl.snapshot().acme, undefined);
    assert.doesNotMatch(readFileSync(join(h.dir, "haproxy.cfg"), "utf8"), /acme_tok/);
  });
});
