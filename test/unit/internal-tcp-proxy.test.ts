// TCP apps in HAProxy: a `mode tcp` frontend per internal port on the internal
// addresses and a leastconn backend with the usual slots, under defaults of
// their own (HTTP's do not leak in; `haproxy -c` finds nothing to warn about);
// the hosts file names them like HTTP apps; a port two apps want is refused
// naming both; the agent's TCP connect probe.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import type { HaproxyControl } from "../../src/agent/haproxy-process.ts";
import { healthCheck, tcpCheck } from "../../src/agent/health.ts";
import { ProxyController } from "../../src/agent/proxy.ts";
import type { SlotApi } from "../../src/agent/proxy-peers.ts";
import { renderConfig } from "../../src/proxy/config.ts";
import { internalHostsLines, internalRoutes } from "../../src/proxy/internal.ts";
import type { ProxyBackend, ProxyState } from "../../src/proxy/model.ts";

const root = mkdtempSync(join(tmpdir(), "skiff-tcp-proxy-"));
after(() => rmSync(root, { recursive: true, force: true }));
const PATHS = { statsSocket: "/run/skiff/haproxy.sock", pidFile: "/run/skiff/haproxy.pid", threads: 1 };

const slots = (): ProxyBackend["slots"] => [
  { name: "s1", addr: "10.0.0.1", port: 20001, state: "ready", instance: "i1" },
  { name: "b1", addr: "10.0.0.1", port: 20002, state: "ready", instance: "i0", backup: true },
  { name: "p1", addr: "10.0.0.2", port: 20003, state: "maint", peer: true },
  { name: "q1", addr: "10.0.0.2", port: 20003, state: "ready", peer: true, backup: true },
];
const web: ProxyBackend = { name: "skiff_shop_web", project: "shop", app: "web", routes: [{ path: "/" }], healthPath: "/healthz", intervalMs: 1000, slots: slots() };
const db: ProxyBackend = { name: "skiff_shop_db", project: "shop", app: "db", tcpPort: 5432, routes: [], intervalMs: 1000, timeoutMs: 500, slots: slots() };
const grpc: ProxyBackend = { name: "skiff_shop_grpc", project: "shop", app: "grpc", tcpPort: 9000, routes: [], healthPath: "/ready", intervalMs: 1000, slots: slots() };
const state = (backends: ProxyBackend[]): ProxyState => ({ httpPort: 80, internalAddrs: ["127.77.0.1", "172.17.0.1"], backends });

/** The lines of one section (`frontend x`, `backend y`, or the second `defaults`). */
function section(cfg: string, head: string, nth = 0): string[] {
  const blocks = cfg.split("\n\n").filter((b) => b.split("\n")[0] === head);
  assert.ok(blocks[nth], `no section "${head}" #${nth} in:\n${cfg}`);
  return blocks[nth]!.split("\n").slice(1).map((l) => l.trim());
}

describe("haproxy.cfg for TCP apps", () => {
  const cfg = renderConfig(state([web, db, grpc]), PATHS);

  it("a frontend per internal port, on every internal address, to the app's backend", () => {
    assert.deepEqual(section(cfg, "frontend internal_tcp_5432"), ["bind 127.77.0.1:5432", "bind 172.17.0.1:5432", "use_backend skiff_shop_db if { nbsrv(skiff_shop_db) gt 0 }", "default_backend skiff_shop_db.peers"]);
    assert.deepEqual(section(cfg, "frontend internal_tcp_9000"), ["bind 127.77.0.1:9000", "bind 172.17.0.1:9000", "use_backend skiff_shop_grpc if { nbsrv(skiff_shop_grpc) gt 0 }", "default_backend skiff_shop_grpc.peers"]);
  });

  it("the TCP backend: leastconn, a connect check (or httpchk with a path), the same slot lines as HTTP", () => {
    const b = section(cfg, "backend skiff_shop_db");
    assert.deepEqual(b.slice(0, 3), ["balance leastconn", "option tcp-check", "option allbackups"]);
    assert.ok(b.includes("timeout check 500ms"));
    assert.ok(!b.some((l) => l.startsWith("option httpchk") || l.startsWith("http-")), b.join("\n"));
    assert.deepEqual(b.filter((l) => l.startsWith("server ")), ["server s1 10.0.0.1:20001 check", "server b1 10.0.0.1:20002 check backup"], "this machine's instances only");
    // Peers in a backend of their own: their check asks the peer's mesh whether one of the app's instances is up.
    const peers = section(cfg, "backend skiff_shop_db.peers");
    assert.deepEqual(peers.slice(0, 4), ["balance leastconn", "option httpchk GET /.skiff/up", "http-check expect status 200", "option allbackups"]);
    assert.deepEqual(peers.filter((l) => l.startsWith("server ")), ["server p1 10.0.0.2:20003 check inter 2000ms fastinter 1000ms disabled", "server q1 10.0.0.2:20003 check inter 2000ms fastinter 1000ms backup"]);
    const g = section(cfg, "backend skiff_shop_grpc");
    assert.deepEqual(g.slice(0, 3), ["balance leastconn", "option httpchk GET /ready", "http-check expect status 200-399"]);
  });

  it("TCP sections come after a defaults of their own: mode tcp, hour-long idle timeouts, nothing of HTTP's", () => {
    const d = section(cfg, "defaults", 1);
    assert.deepEqual(d, ["mode tcp", "timeout connect 2s", "timeout client 1h", "timeout server 1h", "timeout queue 10s", "retries 3", "option redispatch 1"]);
    const after = cfg.slice(cfg.indexOf("\ndefaults\n  mode tcp"));
    for (const word of ["http-reuse", "retry-on", "idle-close-on-response", "http-request", "httplog", "http-keep-alive", "frontend public", "backend skiff_shop_web"]) assert.ok(!after.includes(word), `${word} after the TCP defaults`);
  });

  it("the HTTP internal frontend routes no TCP app; the public frontend neither; the hosts file names them all", () => {
    assert.deepEqual(internalRoutes(state([web, db])).routes.map((r) => r.backend), ["skiff_shop_web"]);
    assert.ok(!section(cfg, "frontend public").some((l) => l.includes("skiff_shop_db")));
    assert.deepEqual(internalHostsLines(state([web, db])), ["127.77.0.1 web.internal web.shop.internal", "127.77.0.1 db.internal db.shop.internal"]);
  });

  it("an HTTP-only config has no TCP defaults", () => {
    assert.ok(!renderConfig(state([web]), PATHS).includes("mode tcp"));
  });

  it("a hostile internal port is refused before anything is written", () => {
    assert.throws(() => renderConfig(state([{ ...db, tcpPort: 70000 }]), PATHS), /internal port of skiff_shop_db 70000 cannot be used in HAProxy/);
  });

  const haproxy = spawnSync("haproxy", ["-v"]).status === 0;
  it("haproxy -c accepts the rendered file without a warning (with request logs on, too)", { skip: haproxy ? false : "haproxy is not installed here (scripts/tools.txt lists it)" }, () => {
    // No log; a syslog address; the agent's own ring, forwarded over TCP.
    for (const [name, log] of [["plain", {}], ["log", { logTarget: "127.0.0.1:514" }], ["ring", { logTarget: "ring@skiff_requests", requestRing: "127.0.0.1:10514" }]] as const) {
      const file = join(root, `check-${name}.cfg`);
      writeFileSync(file, renderConfig(state([web, db, grpc]), { ...PATHS, statsSocket: join(root, "s.sock"), pidFile: join(root, "p.pid"), ...log }));
      if (name === "ring") assert.match(readFileSync(file, "utf8"), /\n {2}log ring@skiff_requests local0\n[\s\S]*\nring skiff_requests\n[\s\S]*\n {2}server agent 127\.0\.0\.1:10514\n/);
      const r = spawnSync("haproxy", ["-c", "-f", file], { encoding: "utf8" });
      assert.equal(r.status, 0, r.stderr + r.stdout);
      assert.doesNotMatch(r.stderr + r.stdout, /WARNING|ALERT/, r.stderr + r.stdout);
    }
  });
});

function memController() {
  const api: SlotApi = { info: async () => "", setState: async () => {}, setAddr: async () => {}, serverStates: async () => new Map(), sessions: async () => new Map(), healthUp: async () => {} };
  const proc = { running: false, reloads: 0 };
  const haproxy: HaproxyControl = { running: () => proc.running, reachable: () => proc.running, startOrReload: async () => void ((proc.running = true), proc.reloads++), check: async () => {}, softStop: () => void (proc.running = false) };
  const dir = mkdtempSync(join(root, "ctl-"));
  return { ctl: new ProxyController({ dir, statsSocket: join(dir, "s"), pidFile: join(dir, "p") }, 80, () => {}, { api, haproxy, sleep: async () => {}, hosts: null, internalAddrs: async () => ["127.77.0.1"] }), proc };
}

describe("the agent's proxy controller and TCP ports", () => {
  const tcp = (project: string, app: string, tcpPort: number) => ({ routes: [], intervalMs: 1000, freeSlots: 1, tcpPort, project, app });

  it("a second app on a TCP port another app serves here is refused, naming both; nothing reloads", async () => {
    const h = memController();
    await h.ctl.ensureRunning();
    await h.ctl.ensureBackend("skiff_shop_db", tcp("shop", "db", 5432));
    const reloads = h.proc.reloads;
    await assert.rejects(h.ctl.ensureBackend("skiff_blog_pg", tcp("blog", "pg", 5432)), {
      message: "TCP port 5432 of the internal addresses is already served by app db of project shop on this machine; give pg of project blog another internal_port (TCP names are told apart by port alone)",
    });
    assert.equal(h.proc.reloads, reloads);
    assert.deepEqual(h.ctl.snapshot().backends.map((b) => b.name), ["skiff_shop_db"]);
  });

  it("the same app again, another port, or an app leaving HTTP for TCP: accepted; the backend keeps no stale keys", async () => {
    const h = memController();
    await h.ctl.ensureRunning();
    await h.ctl.ensureBackend("skiff_shop_db", tcp("shop", "db", 5432));
    await h.ctl.ensureBackend("skiff_shop_db", tcp("shop", "db", 5432));
    await h.ctl.ensureBackend("skiff_blog_pg", tcp("blog", "pg", 5433));
    await h.ctl.ensureBackend("skiff_shop_web", { routes: [{ path: "/" }], healthPath: "/healthz", intervalMs: 1000, freeSlots: 1, project: "shop", app: "web" });
    const b = h.ctl.snapshot().backends;
    assert.deepEqual(b.map((x) => [x.name, x.tcpPort, x.healthPath]), [["skiff_shop_db", 5432, undefined], ["skiff_blog_pg", 5433, undefined], ["skiff_shop_web", undefined, "/healthz"]]);
    assert.equal("tcpPort" in b[2]!, false);
    assert.equal("healthPath" in b[0]!, false);
  });
});

describe("the TCP connect probe", () => {
  it("a listening port passes; a closed one fails with ECONNREFUSED; a path makes it an HTTP check", async () => {
    // A probe that hangs up after the connect resets the connection: the server side ignores that, as an app must.
    const open = new Set<import("node:net").Socket>();
    const srv = createServer((s) => {
      open.add(s.on("close", () => open.delete(s)));
      s.on("error", () => {}).end("HTTP/1.0 200 OK\r\n\r\n");
    });
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
    const port = (srv.address() as { port: number }).port;
    assert.deepEqual(await tcpCheck("127.0.0.1", port, 1000), { ok: true, detail: "connected" });
    assert.deepEqual(await healthCheck("127.0.0.1", port, undefined, 1000), { ok: true, detail: "connected" });
    assert.deepEqual(await healthCheck("127.0.0.1", port, "/x", 1000), { ok: true, detail: "HTTP 200" });
    for (const s of open) s.destroy();
    await new Promise<void>((r) => srv.close(() => r()));
    assert.deepEqual(await tcpCheck("127.0.0.1", port, 1000), { ok: false, detail: "ECONNREFUSED" });
  });
});
