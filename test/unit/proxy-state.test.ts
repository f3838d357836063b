// The proxy's saved state on a machine: written atomically, rebuilt when damaged;
// HAProxy's privileges; peer slots that cover a restart. A real ProxyController
// in a temp directory (no HAProxy is started: only its files are written).
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { haproxyPrivileges, ProxyController } from "../../src/agent/proxy.ts";
import { renderConfig } from "../../src/proxy/config.ts";
import type { ProxyState } from "../../src/proxy/model.ts";

const PROXY = new URL("../../src/agent/proxy.ts", import.meta.url).pathname;

function bigState(slots: number): ProxyState {
  return {
    httpPort: 80,
    backends: [{ name: "skiff_p_web", routes: [{ host: "a.example.com", path: "/" }], healthPath: "/healthz", intervalMs: 1000, slots: Array.from({ length: slots }, (_, i) => ({ name: `s${i + 1}`, addr: "10.0.0.1", port: 20000 + (i % 9000), state: "ready" as const, instance: `skiff-p-web-1-${i}` })) }],
  };
}

function controller(dir: string, log: string[] = []) {
  return new ProxyController({ dir, statsSocket: join(dir, "haproxy.sock"), pidFile: join(dir, "haproxy.pid") }, 80, (s) => log.push(s));
}
/** persist() is private; these tests write files only, with no HAProxy running. */
const persist = (c: ProxyController) => (c as unknown as { persist(): Promise<void> }).persist();

describe("the proxy's state.json", () => {
  it("is replaced, never rewritten in place, and no temp file stays", async () => {
    const dir = mkdtempSync(join(tmpdir(), "skiff-proxy-"));
    writeFileSync(join(dir, "state.json"), JSON.stringify(bigState(3)));
    const c = controller(dir);
    const before = statSync(join(dir, "state.json")).ino;
    await persist(c);
    assert.notEqual(statSync(join(dir, "state.json")).ino, before, "a new file renamed over the old one");
    assert.deepEqual(readdirSync(dir).sort(), ["haproxy.cfg", "state.json"]);
  });

  it("survives an agent killed while writing it (6 kills mid-write)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "skiff-proxy-"));
    writeFileSync(join(dir, "state.json"), JSON.stringify(bigState(4000)));
    const script = `import { ProxyController } from ${JSON.stringify(PROXY)};
const c = new ProxyController({ dir: ${JSON.stringify(dir)}, statsSocket: "/x/h.sock", pidFile: "/x/h.pid" }, 80);
process.stdout.write("go\\n");
for (;;) await c["persist"]();`;
    for (let i = 0; i < 6; i++) {
      const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
      await new Promise((r) => child.stdout.once("data", r));
      await new Promise((r) => setTimeout(r, 40 + i * 23));
      child.kill("SIGKILL");
      await new Promise((r) => child.once("close", r));
      const text = readFileSync(join(dir, "state.json"), "utf8");
      assert.doesNotThrow(() => JSON.parse(text), `torn state.json after kill ${i + 1}: ${text.length} bytes`);
    }
  });

  it("torn or empty: reported, and the state comes back from haproxy.cfg", async () => {
    const dir = mkdtempSync(join(tmpdir(), "skiff-proxy-"));
    writeFileSync(join(dir, "state.json"), JSON.stringify(bigState(2)));
    await persist(controller(dir));
    for (const damage of [(f: string) => truncateSync(f, 40), (f: string) => truncateSync(f, 0)]) {
      damage(join(dir, "state.json"));
      const log: string[] = [];
      const c = controller(dir, log);
      assert.match(log.join("\n"), /state\.json is damaged .*; rebuilding the proxy state from .*haproxy\.cfg/);
      assert.deepEqual(c.snapshot().backends.map((b) => [b.name, b.slots.filter((s) => s.instance?.startsWith("skiff-p-web")).length]), [["skiff_p_web", 2]]);
    }
  });

  it("damaged with no haproxy.cfg to rebuild from: reported, and it starts with no backends", () => {
    const dir = mkdtempSync(join(tmpdir(), "skiff-proxy-"));
    writeFileSync(join(dir, "state.json"), '{"httpPort": 80, "backe');
    const log: string[] = [];
    const c = controller(dir, log);
    assert.match(log.join("\n"), /state\.json is damaged/);
    assert.match(log.join("\n"), /starting with no backends/);
    assert.deepEqual(c.snapshot().backends, []);
  });
});

describe("the proxy's files under a short write", () => {
  it("a write cut short (file size limit) fails; haproxy.cfg and state.json stay as they were, no temp file remains", async () => {
    const dir = mkdtempSync(join(tmpdir(), "skiff-proxy-"));
    writeFileSync(join(dir, "state.json"), JSON.stringify(bigState(2)));
    await persist(controller(dir));
    const before = { cfg: readFileSync(join(dir, "haproxy.cfg"), "utf8"), state: readFileSync(join(dir, "state.json"), "utf8") };
    // The state grows past 4 KB; write(2) returns a short count at the limit, then EFBIG (a nearly full disk does the same).
    const script = `import { ProxyController } from ${JSON.stringify(PROXY)};
const c = new ProxyController({ dir: ${JSON.stringify(dir)}, statsSocket: "/x/h.sock", pidFile: "/x/h.pid" }, 80);
c["state"].backends[0].routes.push(...Array.from({ length: 200 }, (_, i) => ({ path: "/r" + i })));
await c["persist"]();`;
    const r = spawnSync("sh", ["-c", `ulimit -f 4; exec "${process.execPath}" --import tsx --input-type=module -e "$0"`, script], { encoding: "utf8", timeout: 30_000 });
    assert.notEqual(r.status, 0, `persist under a 4 KB limit reported success:\n${r.stderr}`);
    assert.equal(readFileSync(join(dir, "haproxy.cfg"), "utf8"), before.cfg);
    assert.equal(readFileSync(join(dir, "state.json"), "utf8"), before.state);
    assert.deepEqual(readdirSync(dir).sort(), ["haproxy.cfg", "state.json"]);
  });
});

describe("state.json missing, haproxy.cfg present", () => {
  it("the state comes back from haproxy.cfg's state line, and it says so", async () => {
    const dir = mkdtempSync(join(tmpdir(), "skiff-proxy-"));
    writeFileSync(join(dir, "state.json"), JSON.stringify(bigState(2)));
    await persist(controller(dir));
    rmSync(join(dir, "state.json"));
    const log: string[] = [];
    const c = controller(dir, log);
    assert.match(log.join("\n"), /state\.json is missing; rebuilding the proxy state from .*haproxy\.cfg/);
    assert.deepEqual(c.snapshot().backends.map((b) => [b.name, b.slots.filter((s) => s.instance?.startsWith("skiff-p-web")).length]), [["skiff_p_web", 2]]);
  });

  it("neither file: a new machine, quietly", () => {
    const dir = mkdtempSync(join(tmpdir(), "skiff-proxy-"));
    const log: string[] = [];
    assert.deepEqual(controller(dir, log).snapshot().backends, []);
    assert.deepEqual(log, []);
  });
});

describe("HAProxy's privileges", () => {
  const sys = (o: { uid?: number; passwd?: string; group?: string; dir?: boolean }) => ({
    uid: o.uid ?? 0,
    read: (p: string) => (p === "/etc/passwd" ? (o.passwd ?? "root:x:0:0::/root:/bin/sh\nhaproxy:x:101:104::/var/lib/haproxy:/usr/sbin/nologin\n") : (o.group ?? "root:x:0:\nhaproxy:x:104:\n")),
    isDir: () => o.dir ?? true,
  });

  it("drops root to haproxy in a chroot where the machine has them", () => {
    assert.deepEqual(haproxyPrivileges(sys({})), { user: "haproxy", group: "haproxy", chroot: "/var/lib/haproxy" });
    for (const missing of [{ uid: 1000 }, { passwd: "root:x:0:0::/root:/bin/sh\n" }, { group: "root:x:0:\n" }, { dir: false }]) assert.deepEqual(haproxyPrivileges(sys(missing)), {}, JSON.stringify(missing));
  });

  it("the rendered config says so, with the stats socket and pid file still set up as root", () => {
    const cfg = renderConfig(bigState(1), { statsSocket: "/run/skiff/haproxy.sock", pidFile: "/run/skiff/haproxy.pid", user: "haproxy", group: "haproxy", chroot: "/var/lib/haproxy" });
    const global = cfg.split("\n\n")[0]!.split("\n");
    for (const l of ["  chroot /var/lib/haproxy", "  user haproxy", "  group haproxy", "  stats socket /run/skiff/haproxy.sock mode 600 level admin expose-fd listeners"]) assert.ok(global.includes(l), `${l} in\n${global.join("\n")}`);
    assert.throws(() => renderConfig(bigState(1), { statsSocket: "/s", pidFile: "/p", user: "haproxy\n  stats socket :9999" }), /user .* cannot be used in HAProxy/);
  });
});

describe("a socket-path log target under a chroot", () => {
  it("is left out of haproxy.cfg, and the agent says so once", async () => {
    const dir = mkdtempSync(join(tmpdir(), "skiff-proxy-"));
    const log: string[] = [];
    const c = new ProxyController({ dir, statsSocket: join(dir, "haproxy.sock"), pidFile: join(dir, "haproxy.pid"), logTarget: "/dev/log", user: "haproxy", group: "haproxy", chroot: "/var/lib/haproxy" }, 80, (s) => log.push(s));
    await persist(c);
    await persist(c);
    assert.equal(log.filter((l) => /log target \/dev\/log .*chroot/.test(l)).length, 1, log.join("\n"));
    assert.ok(!/^\s*log /m.test(readFileSync(join(dir, "haproxy.cfg"), "utf8")));
  });
});

describe("peer slots after a restart", () => {
  it("backup peer slots render enabled and as backups, and backups share the load", () => {
    const cfg = renderConfig(
      { httpPort: 80, backends: [{ name: "skiff_p_web", routes: [{ path: "/" }], healthPath: "/healthz", intervalMs: 1000, slots: [
        { name: "s1", addr: "127.0.0.1", port: 20001, state: "ready", instance: "local-1" },
        { name: "p1", addr: "10.0.0.2", port: 20001, state: "maint", instance: "remote-1", peer: true },
        { name: "q1", addr: "10.0.0.2", port: 20001, state: "ready", instance: "remote-1", peer: true, backup: true },
      ] }] },
      { statsSocket: "/s", pidFile: "/p" },
    );
    assert.ok(cfg.includes("  server q1 10.0.0.2:20001 check inter 2000ms fastinter 1000ms backup\n"), cfg);
    assert.ok(cfg.includes("  server p1 10.0.0.2:20001 check inter 2000ms fastinter 1000ms disabled\n"), cfg);
    assert.ok(cfg.includes("  option allbackups\n"));
  });

  it("a backend saved without backup peer slots gets one per primary peer slot", () => {
    const dir = mkdtempSync(join(tmpdir(), "skiff-proxy-"));
    const st = bigState(1);
    st.backends[0]!.slots.push(...Array.from({ length: 16 }, (_, i) => ({ name: `p${i + 1}`, addr: "127.0.0.1", port: 1, state: "maint" as const, peer: true })));
    writeFileSync(join(dir, "state.json"), JSON.stringify(st));
    const slots = controller(dir).snapshot().backends[0]!.slots;
    assert.equal(slots.filter((s) => s.peer && s.backup).length, 16);
    assert.equal(slots.filter((s) => s.peer && !s.backup).length, 16);
  });
});
