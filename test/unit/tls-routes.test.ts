// HTTPS on public routes with a certificate from the repo: the config's checks
// (file:line:col), the plan's certificate check against the key (a secret),
// haproxy.cfg (HTTPS frontend, redirect, HSTS; `haproxy -c` on the file with a
// real certificate), and the agent's tls store (disk first, then the Runtime
// API: add the first time, swap after; a refusal leaves the files as they were).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { TlsStore, type TlsRuntime } from "../../src/agent/proxy-tls.ts";
import { checkConfig } from "../../src/config/load.ts";
import { formatDiagnostic, UserError } from "../../src/errors.ts";
import { routeCerts } from "../../src/exec/tls-certs.ts";
import { renderConfig } from "../../src/proxy/config.ts";
import type { ProxyBackend, ProxyState } from "../../src/proxy/model.ts";
import { certLine } from "../../src/plan/render.ts";
import { publicUrls } from "../../src/api/status.ts";
import { testCa, testLeaf } from "../tls-fixture.ts";

const tmp = () => mkdtempSync(join(tmpdir(), "skiff-tls-"));
const PATHS = { statsSocket: "/run/skiff/haproxy.sock", pidFile: "/run/skiff/haproxy.pid", threads: 1 };

const yml = (route: string) => `project: shop
machines:
  m1: { host: 10.0.0.1, https_port: 8443 }
apps:
  web:
    image: nginx:1.27
    routes:
      - ${route}
`;

describe("config: routes with tls", () => {
  it("a good certificate loads; the route keeps its file (absolute) and key name; hsts: true is a year; https_port is the machine's", async () => {
    const dir = tmp();
    const leaf = await testLeaf(await testCa(), ["shop.example.test"]);
    writeFileSync(join(dir, "shop.pem"), leaf.cert);
    const { project, diagnostics } = checkConfig(yml("{ host: shop.example.test, tls: { cert: shop.pem, key: SHOP_KEY, hsts: true } }"), join(dir, "skiff.yml"));
    assert.deepEqual(diagnostics, []);
    assert.deepEqual(project!.apps.web!.routes, [{ host: "shop.example.test", path: "/", tls: { cert: join(dir, "shop.pem"), key: "SHOP_KEY", hstsS: 31536000 } }]);
    assert.equal(project!.machines.m1!.httpsPort, 8443);
  });

  it("no host, a file that is missing, not PEM, or for another name, or expired: each is an error at its line and column", async () => {
    const dir = tmp();
    const ca = await testCa();
    writeFileSync(join(dir, "other.pem"), (await testLeaf(ca, ["other.example.test"])).cert);
    writeFileSync(join(dir, "old.pem"), (await testLeaf(ca, ["shop.example.test"], { notBefore: new Date(Date.now() - 10 * 86_400_000), days: 2 })).cert);
    writeFileSync(join(dir, "junk.pem"), "hello\n");
    const at = (route: string) => checkConfig(yml(route), join(dir, "skiff.yml")).diagnostics.map(formatDiagnostic).join("\n");
    assert.match(at("{ path: /, tls: { cert: other.pem, key: K } }"), /skiff\.yml:8:\d+.*has tls but no host/);
    assert.match(at("{ host: shop.example.test, tls: { cert: nope.pem, key: K } }"), /skiff\.yml:8:\d+.*nope\.pem cannot be read \(ENOENT\)/);
    assert.match(at("{ host: shop.example.test, tls: { cert: junk.pem, key: K } }"), /junk\.pem is not a PEM certificate/);
    assert.match(at("{ host: shop.example.test, tls: { cert: other.pem, key: K } }"), /certificate other\.pem is not for shop\.example\.test \(it names DNS:other\.example\.test\)/);
    assert.match(at("{ host: shop.example.test, tls: { cert: old.pem, key: K } }"), /certificate old\.pem expired on \d{4}-\d{2}-\d{2}/);
    assert.match(at("{ host: shop.example.test, tls: { cert: other.pem, key: not-a-name } }"), /skiff\.yml:8:\d+/);
  });
});

describe("plan: the certificate and its key", () => {
  it("the key secret must be the certificate's; the plan line names the host, the file and the expiry, never the key", async () => {
    const dir = tmp();
    const ca = await testCa();
    const leaf = await testLeaf(ca, ["shop.example.test", "www.example.test"], { days: 20 });
    const stranger = await testLeaf(ca, ["shop.example.test"]);
    writeFileSync(join(dir, "shop.pem"), leaf.cert);
    const text = yml("{ host: shop.example.test, tls: { cert: shop.pem, key: SHOP_KEY } }") + "      - { host: www.example.test, tls: { cert: shop.pem, key: SHOP_KEY } }\n";
    const { project } = checkConfig(text, join(dir, "skiff.yml"));
    const p = { ...project!, dir, file: join(dir, "skiff.yml") };
    const certs = routeCerts(p, p.apps.web!, { SHOP_KEY: leaf.key });
    assert.equal(certs.length, 1, "one file with two hosts is loaded once");
    assert.deepEqual(certs[0]!.hosts, ["shop.example.test", "www.example.test"]);
    assert.equal(certs[0]!.id, "shop_web_shop.example.test");
    const line = certLine({ hosts: certs[0]!.hosts, source: "repo", file: certs[0]!.file, notAfter: certs[0]!.notAfter });
    assert.match(line, /^ {2}certificate for shop\.example\.test, www\.example\.test from the repo \(shop\.pem; expires \d{4}-\d{2}-\d{2}, in 19 days: renew it soon\)$/);
    assert.throws(() => routeCerts(p, p.apps.web!, { SHOP_KEY: stranger.key }), (e: unknown) => e instanceof UserError && /routes\[0\]\.tls\.key: secret "SHOP_KEY" is not the private key of shop\.pem/.test(e.message) && !e.message.includes("PRIVATE KEY"));
    assert.throws(() => routeCerts(p, p.apps.web!, {}), /no secret "SHOP_KEY"/);
    assert.throws(() => routeCerts(p, p.apps.web!, { SHOP_KEY: "not a key" }), /is not a PEM private key/);
  });
});

const backend = (routes: ProxyBackend["routes"], extra: Partial<ProxyBackend> = {}): ProxyBackend => ({
  name: "skiff_shop_web", project: "shop", app: "web", routes, healthPath: "/healthz", intervalMs: 1000, slots: [{ name: "s1", addr: "127.0.0.1", port: 3000, state: "ready" }], ...extra,
});

describe("haproxy.cfg with tls routes", () => {
  it("no tls route: no HTTPS frontend and no redirect", () => {
    const cfg = renderConfig({ httpPort: 80, backends: [backend([{ host: "shop.example.test", path: "/" }])], tlsCrtList: "/var/lib/skiff/proxy/tls/crt-list" }, PATHS);
    assert.doesNotMatch(cfg, /ssl|redirect|public_tls/);
  });

  it("an HTTPS frontend on the https port with the crt-list (strict-sni, h2), X-Forwarded-Proto, HSTS by SNI; plain HTTP redirects with the port, except ACME's path", () => {
    const state: ProxyState = {
      httpPort: 80,
      tlsCrtList: "/var/lib/skiff/proxy/tls/crt-list",
      backends: [backend([{ host: "shop.example.test", path: "/", tls: { hstsS: 600 } }, { host: "plain.example.test", path: "/" }], { httpsPort: 8443 })],
    };
    const cfg = renderConfig(state, PATHS);
    const https = cfg.slice(cfg.indexOf("frontend public_tls_8443"), cfg.indexOf("\nbackend skiff_no_route"));
    assert.match(https, /^frontend public_tls_8443\n {2}bind :8443 ssl crt-list \/var\/lib\/skiff\/proxy\/tls\/crt-list strict-sni alpn h2,http\/1\.1\n {2}http-request set-header X-Forwarded-Proto https\n/);
    assert.match(https, / {2}http-response set-header Strict-Transport-Security 'max-age=600' if \{ ssl_fc_sni -i shop\.example\.test \}\n/);
    assert.match(https, /use_backend skiff_shop_web if r0_host/);
    assert.doesNotMatch(https, /plain\.example\.test/, "only tls routes are served over HTTPS");
    const http = cfg.slice(cfg.indexOf("frontend public\n"), cfg.indexOf("frontend public_tls_8443"));
    assert.match(http, /http-request redirect location https:\/\/shop\.example\.test:8443%\[pathq\] code 301 if r\d_host !\{ path_beg \/\.well-known\/acme-challenge\/ \}\n/);
    assert.equal(http.match(/redirect/g)!.length, 1, "the plain route is not redirected");
    assert.ok(http.indexOf("redirect") < http.indexOf("use_backend"), "http-request rules before use_backend (no HAProxy warning)");
    const at443 = renderConfig({ ...state, backends: [backend([{ host: "shop.example.test", path: "/", tls: {} }])] }, PATHS);
    assert.match(at443, /redirect location https:\/\/shop\.example\.test%\[pathq\] code 301/);
    assert.match(at443, /bind :443 ssl/);
    assert.doesNotMatch(at443, /Strict-Transport-Security/);
  });

  it("haproxy -c accepts the file with a real certificate in the crt-list, and with an empty crt-list", { skip: !existsSync("/usr/sbin/haproxy") && "haproxy is not installed here (scripts/tools.sh installs it)" }, async () => {
    const dir = tmp();
    const leaf = await testLeaf(await testCa(), ["shop.example.test"]);
    const crtList = join(dir, "crt-list");
    const check = (list: string) => {
      writeFileSync(crtList, list);
      const cfg = join(dir, "haproxy.cfg");
      writeFileSync(cfg, renderConfig({ httpPort: 18080, tlsCrtList: crtList, backends: [backend([{ host: "shop.example.test", path: "/", tls: { hstsS: 31536000 } }], { httpsPort: 18443 })] }, { statsSocket: join(dir, "s.sock"), pidFile: join(dir, "p.pid"), threads: 1 }));
      return execFileSync("/usr/sbin/haproxy", ["-c", "-f", cfg], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    };
    writeFileSync(join(dir, "shop.pem"), leaf.cert + leaf.key);
    assert.match(check(`${join(dir, "shop.pem")} [alpn h2,http/1.1] shop.example.test\n`), /Configuration file is valid/);
    assert.match(check(""), /Configuration file is valid/);
  });
});

/** The Runtime API as a map of what HAProxy holds, with a switch to refuse. */
function fakeRuntime(loaded = true) {
  const held = new Map<string, string>();
  const calls: string[] = [];
  let refuse = false;
  const rt: TlsRuntime = {
    loaded: async () => loaded,
    entries: async () => [...held.keys()],
    add: async (_l, path, pem) => {
      calls.push(`add ${path}`);
      if (refuse) throw new Error("HAProxy refused a new certificate");
      held.set(path, pem);
    },
    swap: async (path, pem) => {
      calls.push(`swap ${path}`);
      if (refuse) throw new Error("HAProxy refused the new certificate");
      held.set(path, pem);
    },
    remove: async (_l, path) => {
      calls.push(`remove ${path}`);
      held.delete(path);
    },
  };
  return { rt, held, calls, refuse: (v: boolean) => (refuse = v) };
}

describe("the agent's tls store", () => {
  it("first time: files 0600 and a crt-list line, then added live; a renewal swaps; a refusal leaves the files as they were; removal takes both away", async () => {
    const dir = tmp();
    mkdirSync(dir, { recursive: true });
    const ca = await testCa();
    const one = await testLeaf(ca, ["shop.example.test"]);
    const two = await testLeaf(ca, ["shop.example.test"]);
    const three = await testLeaf(ca, ["shop.example.test"]);
    const f = fakeRuntime();
    const store = new TlsStore(dir, f.rt);
    const path = join(dir, "tls", "shop_web_shop.example.test.pem");
    const r = await store.set("shop_web_shop.example.test", ["shop.example.test"], one.cert, one.key);
    assert.equal(r.applied, "live");
    assert.equal(r.cert.serial, one.serial);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal(statSync(store.list).mode & 0o777, 0o600);
    assert.equal(readFileSync(store.list, "utf8"), `${path} [alpn h2,http/1.1] shop.example.test\n`);
    assert.equal(readFileSync(path, "utf8"), `${one.cert.trim()}\n${one.key.trim()}\n`);
    await store.set("shop_web_shop.example.test", ["shop.example.test"], two.cert, two.key);
    assert.deepEqual(f.calls, [`add ${path}`, `swap ${path}`]);
    assert.ok(f.held.get(path)!.includes(two.key.trim().split("\n")[1]!));
    f.refuse(true);
    await assert.rejects(store.set("shop_web_shop.example.test", ["shop.example.test"], three.cert, three.key), /refused/);
    assert.equal(readFileSync(path, "utf8"), `${two.cert.trim()}\n${two.key.trim()}\n`, "the file HAProxy would reload is the one it serves");
    f.refuse(false);
    assert.deepEqual(store.certs().map((c) => [c.id, c.hosts, c.serial]), [["shop_web_shop.example.test", ["shop.example.test"], two.serial]]);
    assert.equal(await store.remove("shop_web_shop.example.test"), true);
    assert.equal(readFileSync(store.list, "utf8"), "");
    assert.equal(existsSync(path), false);
    assert.equal(f.held.size, 0);
  });

  it("no HTTPS frontend running yet: disk only (the reload that adds it loads the files); a new first certificate refused live leaves no file", async () => {
    const dir = tmp();
    const ca = await testCa();
    const one = await testLeaf(ca, ["shop.example.test"]);
    const f = fakeRuntime(false);
    const store = new TlsStore(dir, f.rt);
    assert.equal((await store.set("a", ["shop.example.test"], one.cert, one.key)).applied, "disk");
    assert.deepEqual(f.calls, []);
    const live = fakeRuntime(true);
    live.refuse(true);
    const other = new TlsStore(tmp(), live.rt);
    await assert.rejects(other.set("a", ["shop.example.test"], one.cert, one.key));
    assert.equal(existsSync(join(other.dir, "a.pem")), false);
    assert.equal(readFileSync(other.list, "utf8"), "");
  });

  it("refuses before writing anything: a key that is not the certificate's, a host it does not cover, a bad id", async () => {
    const dir = tmp();
    const ca = await testCa();
    const one = await testLeaf(ca, ["shop.example.test"]);
    const two = await testLeaf(ca, ["shop.example.test"]);
    const store = new TlsStore(dir, fakeRuntime().rt);
    await assert.rejects(store.set("a", ["shop.example.test"], one.cert, two.key), /does not belong to the certificate/);
    await assert.rejects(store.set("a", ["www.example.test"], one.cert, one.key), /not for www\.example\.test/);
    await assert.rejects(store.set("../x", ["shop.example.test"], one.cert, one.key), /certificate id/);
    assert.equal(existsSync(join(dir, "tls", "a.pem")), false);
  });
});

describe("pruning and status URLs", () => {
  it("prune removes the app's certificates its routes no longer name, and no other app's", async () => {
    const ca = await testCa();
    const a = await testLeaf(ca, ["a.example.test"]);
    const b = await testLeaf(ca, ["b.example.test"]);
    const f = fakeRuntime();
    const store = new TlsStore(tmp(), f.rt);
    await store.set("shop_web_a.example.test", ["a.example.test"], a.cert, a.key);
    await store.set("shop_web_b.example.test", ["b.example.test"], b.cert, b.key);
    await store.set("shop_web-2_a.example.test", ["a.example.test"], a.cert, a.key);
    assert.deepEqual(await store.prune("shop", "web", ["shop_web_a.example.test"]), ["shop_web_b.example.test"]);
    assert.deepEqual(store.certs().map((c) => c.id).sort(), ["shop_web-2_a.example.test", "shop_web_a.example.test"]);
    assert.deepEqual(await store.prune("shop", "web", []), ["shop_web_a.example.test"]);
    assert.deepEqual(store.certs().map((c) => c.id), ["shop_web-2_a.example.test"]);
    assert.deepEqual([...f.held.keys()].map((p) => p.split("/").pop()), ["shop_web-2_a.example.test.pem"]);
  });

  it("status: https URLs for tls routes on the https port, http for the others", async () => {
    const dir = tmp();
    writeFileSync(join(dir, "shop.pem"), (await testLeaf(await testCa(), ["shop.example.test"])).cert);
    const text = yml("{ host: shop.example.test, tls: { cert: shop.pem, key: K } }") + "      - { host: plain.example.test, path: /api }\n";
    const { project } = checkConfig(text, join(dir, "skiff.yml"));
    assert.deepEqual(publicUrls(project!, "web", "m1"), ["https://shop.example.test:8443/", "http://plain.example.test/api"]);
  });
});
