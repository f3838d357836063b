// Internal names (APP.internal, APP.PROJECT.internal): the hosts-file block the
// agent owns, the internal frontend rendered into haproxy.cfg, and the proxy
// controller keeping both in step with its backends.
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { HostsFile } from "../../src/agent/hosts-file.ts";
import { internalAddrsOf } from "../../src/agent/internal-names.ts";
import { ProxyController } from "../../src/agent/proxy.ts";
import type { HaproxyControl } from "../../src/agent/haproxy-process.ts";
import type { SlotApi } from "../../src/agent/proxy-peers.ts";
import { hostsBlockNames, withHostsBlock } from "../../src/lib/hosts-block.ts";
import { renderConfig } from "../../src/proxy/config.ts";
import { containerHosts } from "../../src/runtime/docker.ts";
import { localAddressIn } from "../../src/runtime/docker-bridge.ts";
import { internalRoutes, internalUrl } from "../../src/proxy/internal.ts";
import type { ProxyBackend, ProxyState } from "../../src/proxy/model.ts";

const root = mkdtempSync(join(tmpdir(), "skiff-names-"));
after(() => rmSync(root, { recursive: true, force: true }));

const DOCKER_HOSTS = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n# a comment the admin wrote\n172.30.77.11\tm1\n";
const USERS = "127.77.0.1 users.internal users.names.internal";
const API = "127.77.0.1 api.internal api.names.internal";

describe("the hosts block", () => {
  it("adds skiff's block after every other line, and gives the names back", () => {
    const t = withHostsBlock(DOCKER_HOSTS, [USERS, API]);
    assert.ok(t.startsWith(DOCKER_HOSTS), t);
    assert.deepEqual([...hostsBlockNames(t)], [["users.internal", "127.77.0.1"], ["users.names.internal", "127.77.0.1"], ["api.internal", "127.77.0.1"], ["api.names.internal", "127.77.0.1"]]);
    assert.equal(hostsBlockNames(DOCKER_HOSTS).size, 0, "names outside the block are not skiff's");
  });

  it("is idempotent, replaces the block in place of growing it, and drops names of removed apps", () => {
    const once = withHostsBlock(DOCKER_HOSTS, [USERS, API]);
    assert.equal(withHostsBlock(once, [USERS, API]), once);
    const fewer = withHostsBlock(once, [USERS]);
    assert.equal(fewer, withHostsBlock(DOCKER_HOSTS, [USERS]));
    assert.ok(!fewer.includes("api.internal"));
    assert.equal(withHostsBlock(fewer, []), DOCKER_HOSTS, "no names: no block, the file as it was");
  });

  it("keeps lines written after the block, a file without a final newline, and a blank last line", () => {
    const admin = withHostsBlock("10.0.0.1 db", [USERS]) + "10.0.0.2 cache\n";
    const again = withHostsBlock(admin, [USERS]);
    assert.match(again, /^10\.0\.0\.1 db\n10\.0\.0\.2 cache\n# BEGIN skiff/);
    assert.equal(withHostsBlock(again, []), "10.0.0.1 db\n10.0.0.2 cache\n");
    assert.equal(withHostsBlock(withHostsBlock("a\n\n", [USERS]), []), "a\n\n");
    assert.equal(withHostsBlock(withHostsBlock("", [USERS]), []), "");
  });

  it("an unclosed block (a damaged file) is the agent's to the end, and the next write closes it", () => {
    const damaged = `${DOCKER_HOSTS}# BEGIN skiff: names\n127.77.0.1 old.internal\n`;
    const fixed = withHostsBlock(damaged, [USERS]);
    assert.equal(fixed, withHostsBlock(DOCKER_HOSTS, [USERS]));
  });

  it("the file: written only when it changes, mode kept, and a missing file is made", () => {
    const path = join(root, "hosts");
    writeFileSync(path, DOCKER_HOSTS);
    chmodSync(path, 0o640);
    const f = new HostsFile(path);
    assert.equal(f.write([USERS]), true);
    assert.equal(readFileSync(path, "utf8"), withHostsBlock(DOCKER_HOSTS, [USERS]));
    assert.equal(statSync(path).mode & 0o777, 0o640);
    const ino = statSync(path).ino;
    assert.equal(f.write([USERS]), false, "unchanged: not written");
    assert.equal(statSync(path).ino, ino);
    assert.equal(f.write([]), true);
    assert.equal(readFileSync(path, "utf8"), DOCKER_HOSTS);
    const missing = new HostsFile(join(root, "none", "..", "new-hosts"));
    assert.equal(missing.write([]), false, "no names and no file: nothing to write");
    assert.equal(missing.write([USERS]), true);
    assert.equal(readFileSync(join(root, "new-hosts"), "utf8"), withHostsBlock("", [USERS]));
  });

  it("a file that refuses a rename (a bind mount: Docker's /etc/hosts) is rewritten in place, longer or shorter", () => {
    const path = join(root, "mounted-hosts");
    writeFileSync(path, DOCKER_HOSTS);
    const ino = statSync(path).ino;
    const busy = () => {
      throw Object.assign(new Error("EBUSY: resource busy or locked, rename"), { code: "EBUSY" });
    };
    const f = new HostsFile(path, busy);
    assert.equal(f.write([USERS, API]), true);
    assert.equal(readFileSync(path, "utf8"), withHostsBlock(DOCKER_HOSTS, [USERS, API]));
    assert.equal(f.write([USERS]), true);
    assert.equal(readFileSync(path, "utf8"), withHostsBlock(DOCKER_HOSTS, [USERS]), "shorter: cut to length");
    assert.equal(statSync(path).ino, ino, "the same file, not a new one");
    assert.deepEqual(readdirSync(root).filter((n) => n.startsWith("mounted-hosts.")), [], "no temp file left");
    const other = () => {
      throw Object.assign(new Error("EACCES: permission denied"), { code: "EACCES" });
    };
    assert.throws(() => new HostsFile(path, other).write([]), /EACCES/, "any other refusal is an error");
  });
});

const slot = { name: "s1", addr: "127.0.0.1", port: 20001, state: "ready" as const, instance: "i1" };
const be = (project: string, app: string, more: Partial<ProxyBackend> = {}): ProxyBackend => ({ name: `skiff_${project}_${app}`.replace(/-/g, "_"), project, app, routes: [{ path: "/" }], healthPath: "/healthz", intervalMs: 1000, slots: [slot], ...more });
const PATHS = { statsSocket: "/run/skiff/haproxy.sock", pidFile: "/run/skiff/haproxy.pid", threads: 1 };
const section = (cfg: string, name: string) => {
  const lines = cfg.split("\n");
  const i = lines.indexOf(name);
  if (i < 0) return [];
  const end = lines.findIndex((l, j) => j > i && !l.startsWith("  "));
  return lines.slice(i + 1, end < 0 ? undefined : end);
};

describe("the internal frontend in haproxy.cfg", () => {
  const state: ProxyState = { httpPort: 80, internalAddrs: ["127.77.0.1", "172.17.0.1"], backends: [be("names", "users"), be("names", "api", { routes: [{ host: "api.example.com", path: "/" }], httpPort: 8098 })] };
  const cfg = renderConfig(state, PATHS);

  it("listens on the internal addresses only, port 80, and routes each name (with or without :80) to the app's backend", () => {
    const fe = section(cfg, "frontend internal");
    assert.deepEqual(fe.filter((l) => l.includes("bind")), ["  bind 127.77.0.1:80", "  bind 172.17.0.1:80"]);
    assert.ok(fe.includes("  acl n0 hdr(host),field(1,:) -i users.internal users.names.internal"), fe.join("\n"));
    assert.ok(fe.includes("  use_backend skiff_names_users if n0"));
    assert.ok(fe.includes("  acl n1 hdr(host),field(1,:) -i api.internal api.names.internal"));
    assert.ok(fe.includes("  use_backend skiff_names_api if n1"));
    assert.equal(fe.at(-1), "  default_backend skiff_no_route");
  });

  it("leaves the public frontends as they were: no internal name is routed there", () => {
    assert.deepEqual(section(cfg, "frontend public").filter((l) => l.includes("bind")), ["  bind :80"]);
    assert.deepEqual(section(cfg, "frontend public_8098").filter((l) => l.includes("bind")), ["  bind :8098"]);
    for (const fe of ["frontend public", "frontend public_8098"]) assert.ok(!section(cfg, fe).some((l) => l.includes(".internal")));
    assert.equal(cfg.split("\n").filter((l) => l.trim().startsWith("bind ")).length, 4);
  });

  it("no names, no frontend: backends saved before names existed, or no address to listen on", () => {
    const old = renderConfig({ httpPort: 80, backends: [{ ...be("names", "users"), project: undefined, app: undefined }] }, PATHS);
    assert.ok(!old.includes("frontend internal"));
    assert.ok(!renderConfig({ ...state, internalAddrs: [] }, PATHS).includes("frontend internal"));
    assert.ok(renderConfig({ ...state, internalAddrs: undefined }, PATHS).includes("  bind 127.77.0.1:80"), "absent: the loopback address");
  });

  it("a short name two projects share goes to neither: the answer says to name the project", () => {
    const two = renderConfig({ httpPort: 80, backends: [be("a", "web"), be("b", "web"), be("a", "db")] }, PATHS);
    const fe = section(two, "frontend internal");
    assert.ok(fe.includes("  acl n0 hdr(host),field(1,:) -i web.a.internal"), fe.join("\n"));
    assert.ok(fe.includes("  acl n1 hdr(host),field(1,:) -i web.b.internal"));
    assert.ok(fe.includes("  acl n2 hdr(host),field(1,:) -i db.internal db.a.internal"));
    assert.ok(fe.includes("  acl a0 hdr(host),field(1,:) -i web.internal"));
    assert.ok(fe.some((l) => l.startsWith("  http-request return status 421 ") && l.includes("web.internal names apps of several projects on this machine (a, b): call web.PROJECT.internal") && l.endsWith(" if a0")));
    assert.deepEqual(internalRoutes({ httpPort: 80, backends: [be("a", "web"), be("b", "web")] }).ambiguous, [{ host: "web.internal", projects: ["a", "b"] }]);
  });

  it("a damaged state cannot add a directive through a name", () => {
    assert.throws(() => renderConfig({ httpPort: 80, backends: [be("names", "x\n  bind :22")] }, PATHS), /cannot be used in HAProxy/);
    assert.throws(() => renderConfig({ ...state, internalAddrs: ["0.0.0.0:22 #"] }, PATHS), /cannot be used in HAProxy/);
  });

  it("the URL status shows", () => assert.equal(internalUrl("names", "users"), "http://users.names.internal/"));
});

describe("a container's names", () => {
  it("are the machine's, at the host as containers reach it; none without a block or a file", () => {
    const path = join(root, "hosts-for-containers");
    writeFileSync(path, withHostsBlock(DOCKER_HOSTS, [USERS]));
    assert.deepEqual(containerHosts("172.17.0.1", path), ["users.internal:172.17.0.1", "users.names.internal:172.17.0.1"]);
    assert.deepEqual(containerHosts(undefined, path), ["users.internal:host-gateway", "users.names.internal:host-gateway"], "the Engine did not say: Docker's own name for it");
    writeFileSync(path, DOCKER_HOSTS);
    assert.deepEqual(containerHosts("172.17.0.1", path), []);
    assert.deepEqual(containerHosts("172.17.0.1", join(root, "missing")), []);
  });
});

/** /proc/net/fib_trie of a machine with docker0 (no container: no carrier) and a private network. */
const FIB_TRIE = `Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 172.17.0.0/16 2 0 2
        |-- 172.17.0.0
           /16 link UNICAST
        |-- 172.17.0.1
           /32 host LOCAL
        |-- 172.17.255.255
           /32 link BROADCAST
     |-- 172.30.77.13
        /32 host LOCAL
Local:
  +-- 0.0.0.0/0 3 0 5
     |-- 172.17.0.1
        /32 host LOCAL
`;

describe("the machine's internal addresses", () => {
  it("the bridge's own address is the local one in Docker's subnet (the Engine names only the subnet)", () => {
    assert.equal(localAddressIn(FIB_TRIE, "172.17.0.0/16"), "172.17.0.1");
    assert.equal(localAddressIn(FIB_TRIE, "172.30.77.0/24"), "172.30.77.13");
    assert.equal(localAddressIn(FIB_TRIE, "10.0.0.0/8"), undefined);
    assert.equal(localAddressIn(FIB_TRIE, "nonsense"), undefined);
  });

  it("loopback's own address, and Docker's bridge gateway where there is one; none off Linux", () => {
    assert.deepEqual(internalAddrsOf(null, "linux"), ["127.77.0.1"]);
    assert.deepEqual(internalAddrsOf("172.17.0.1", "linux"), ["127.77.0.1", "172.17.0.1"]);
    assert.deepEqual(internalAddrsOf("172.17.0.1", "darwin"), []);
  });
});

describe("the proxy controller keeps names and backends in step", () => {
  function controller(hostsPath: string, addrs = ["127.77.0.1"]) {
    const servers = new Map<string, string>();
    const api: SlotApi = {
      info: async () => "",
      setState: async (b, s, st) => void servers.set(`${b}/${s}`, st),
      setAddr: async () => {},
      serverStates: async (b) => new Map([...servers].filter(([k]) => k.startsWith(`${b}/`)).map(([k, v]) => [k.split("/")[1]!, { op: v === "ready" ? 2 : 0, admin: 0, addr: "127.0.0.1", port: 1 }])),
      sessions: async () => new Map(),
      healthUp: async () => {},
    };
    const proc = { running: false, reloads: 0 };
    const haproxy: HaproxyControl = { running: () => proc.running, reachable: () => proc.running, startOrReload: async () => void ((proc.running = true), proc.reloads++), check: async () => {}, softStop: () => void (proc.running = false) };
    const dir = mkdtempSync(join(root, "ctl-"));
    const current = { addrs };
    const ctl = new ProxyController({ dir, statsSocket: join(dir, "s"), pidFile: join(dir, "p") }, 80, () => {}, { api, haproxy, sleep: async () => {}, hosts: new HostsFile(hostsPath), internalAddrs: async () => current.addrs });
    return { ctl, proc, dir, current };
  }
  const shape = (project: string, app: string) => ({ routes: [{ path: `/${app}` }], healthPath: "/healthz", intervalMs: 1000, freeSlots: 1, project, app });

  it("an app's activation names it (a machine without instances too); removing it takes the name away", async () => {
    const hosts = join(root, "ctl-hosts");
    writeFileSync(hosts, DOCKER_HOSTS);
    const { ctl, proc, dir } = controller(hosts);
    await ctl.ensureRunning();
    await ctl.ensureBackend("skiff_names_users", shape("names", "users"));
    await ctl.ensureBackend("skiff_names_api", shape("names", "api"));
    assert.equal(readFileSync(hosts, "utf8"), withHostsBlock(DOCKER_HOSTS, [USERS, API]));
    assert.match(readFileSync(join(dir, "haproxy.cfg"), "utf8"), /frontend internal\n {2}bind 127\.77\.0\.1:80\n/);
    const reloads = proc.reloads;
    await ctl.ensureBackend("skiff_names_users", shape("names", "users"));
    assert.equal(proc.reloads, reloads, "the same app again: no reload");
    writeFileSync(hosts, DOCKER_HOSTS); // the file rewritten under the agent (a machine's restart)
    await ctl.ensureRunning();
    assert.equal(readFileSync(hosts, "utf8"), withHostsBlock(DOCKER_HOSTS, [USERS, API]), "put back at the next activation");
    await ctl.removeBackend("skiff_names_api");
    assert.equal(readFileSync(hosts, "utf8"), withHostsBlock(DOCKER_HOSTS, [USERS]));
    await ctl.removeBackend("skiff_names_users");
    assert.equal(readFileSync(hosts, "utf8"), DOCKER_HOSTS, "the last app gone: no block");
  });

  it("a new address (Docker's bridge came up) reloads HAProxy with it at the next activation", async () => {
    const hosts = join(root, "ctl-hosts-2");
    const { ctl, proc, dir, current } = controller(hosts);
    await ctl.ensureRunning();
    await ctl.ensureBackend("skiff_names_users", shape("names", "users"));
    const reloads = proc.reloads;
    current.addrs = ["127.77.0.1", "172.17.0.1"];
    await ctl.ensureBackend("skiff_names_users", shape("names", "users"));
    assert.equal(proc.reloads, reloads + 1);
    assert.match(readFileSync(join(dir, "haproxy.cfg"), "utf8"), /bind 172\.17\.0\.1:80/);
  });

  it("a hosts file it cannot write fails no activation", async () => {
    const { ctl } = controller(join(root, "no-such-dir", "hosts"));
    await ctl.ensureRunning();
    await ctl.ensureBackend("skiff_names_users", shape("names", "users"));
  });
});
