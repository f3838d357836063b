// The tls: auto certificate share on loopback, through a real HAProxy: one
// agent's share socket (acme-share.ts) behind the mesh frontend as skiff
// renders it, and another machine's pull (acme-pull.ts) with its mesh
// certificate. Shown: the pull gets the chain and key of the project's
// certificate; a client without a project certificate, another project's
// share name, a POST, a certificate that is not tls: auto and a forged
// x-skiff-sni all get nothing.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Server } from "node:http";
import { after, before, describe, it } from "node:test";
import type { AutoEntry } from "../../src/agent/acme-auto.ts";
import { pullNewest } from "../../src/agent/acme-pull.ts";
import { serveTlsShare } from "../../src/agent/acme-share.ts";
import { MESH_PORT } from "../../src/contracts/mesh.ts";
import { renderConfig } from "../../src/proxy/config.ts";
import type { ProxyState } from "../../src/proxy/model.ts";
import { testCa, testLeaf, type TestCa } from "../tls-fixture.ts";

// A loopback address of its own: the mesh port is fixed (7443).
const ADDR = "127.0.0.77";
const have = existsSync("/usr/sbin/haproxy");

let dir: string;
let haproxy: ChildProcess | undefined;
let share: Server | undefined;
let projectCa: TestCa;
let machineCrt: string;
let site: { cert: string; key: string; serial: string };

const entry = (id: string): AutoEntry => ({ project: "shop", app: "web", id, hosts: ["shop.example.test"], directory: "https://ca.test/dir", accountKey: "k", thumbprint: "t".repeat(43), self: "m1", machines: [{ name: "m1" }, { name: "m2" }] });

describe("tls: auto certificates between machines, over the mesh (real HAProxy on loopback)", { skip: !have && "haproxy is not installed here (scripts/tools.sh installs it)", timeout: 60_000 }, () => {
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "skiff-share-"));
    projectCa = await testCa("shop mesh CA");
    const machine = await testLeaf(projectCa, ["m1", "*.shop.internal"], { clientAuth: true });
    machineCrt = machine.cert + machine.key;
    writeFileSync(join(dir, "shop.pem"), machineCrt);
    writeFileSync(join(dir, "shop.ca.pem"), projectCa.cert);
    writeFileSync(join(dir, "mesh-list"), `${join(dir, "shop.pem")} [ca-file ${join(dir, "shop.ca.pem")} verify required] *.shop.internal\n`);
    // The certificate the share hands out, as the tls store keeps it (chain + key), and one from a repo.
    const tlsDir = join(dir, "tls");
    mkdirSync(tlsDir);
    site = await testLeaf(await testCa("site CA"), ["shop.example.test"]);
    writeFileSync(join(tlsDir, "shop_web_shop.example.test.pem"), site.cert + site.key);
    writeFileSync(join(tlsDir, "shop_web_repo.pem"), site.cert + site.key);
    const socket = join(dir, "share.sock");
    share = await serveTlsShare({ entry: (id) => (id === "shop_web_shop.example.test" ? entry(id) : undefined) }, tlsDir, socket, undefined, () => {});
    const state = { httpPort: 18090, backends: [], mesh: { addr: ADDR, port: MESH_PORT, crtList: join(dir, "mesh-list"), certs: [{ project: "shop", crt: join(dir, "shop.pem"), ca: join(dir, "shop.ca.pem") }] }, tlsShare: socket } as ProxyState;
    writeFileSync(join(dir, "haproxy.cfg"), renderConfig(state, { statsSocket: join(dir, "s.sock"), pidFile: join(dir, "p.pid"), threads: 1 }).replace(/^\s*bind :18090$/m, `  bind ${ADDR}:18090`));
    haproxy = spawn("/usr/sbin/haproxy", ["-db", "-f", join(dir, "haproxy.cfg")], { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    haproxy.stderr!.on("data", (b) => (err += b));
    const until = Date.now() + 10_000;
    for (;;) {
      const r = await pullNewest([{ name: "m1", addr: ADDR }], { project: "shop", id: "shop_web_shop.example.test", crt: machineCrt, ca: projectCa.cert, timeoutMs: 1000 });
      if (r.best || !r.errors.some((e) => /ECONNREFUSED/.test(e))) break;
      if (Date.now() > until) throw new Error(`haproxy did not start: ${err}`);
      await new Promise((res) => setTimeout(res, 100));
    }
  });

  after(() => {
    haproxy?.kill("SIGTERM");
    share?.close();
  });

  it("a machine of the project pulls the chain and key", async () => {
    const r = await pullNewest([{ name: "m1", addr: ADDR }], { project: "shop", id: "shop_web_shop.example.test", hosts: ["shop.example.test"], crt: machineCrt, ca: projectCa.cert });
    assert.deepEqual(r.errors, []);
    assert.equal(r.best!.from, "m1");
    assert.equal(r.best!.leaf.serialNumber, site.serial);
    assert.equal(r.best!.key.trim(), site.key.trim());
  });

  it("nothing for a certificate that is not tls: auto, for another project's share name, or for a client with no project certificate", async () => {
    const repo = await pullNewest([{ name: "m1", addr: ADDR }], { project: "shop", id: "shop_web_repo", crt: machineCrt, ca: projectCa.cert });
    assert.equal(repo.best, undefined);
    assert.match(repo.errors.join(), /404/);
    // Another project's name: the agent checks the SNI HAProxy saw against the certificate's project.
    const blog = await pullNewest([{ name: "m1", addr: ADDR }], { project: "blog", id: "shop_web_shop.example.test", crt: machineCrt, ca: projectCa.cert });
    assert.equal(blog.best, undefined);
    const stranger = await testLeaf(await testCa("not the project's CA"), ["m9", "*.shop.internal"], { clientAuth: true });
    const out = await pullNewest([{ name: "m1", addr: ADDR }], { project: "shop", id: "shop_web_shop.example.test", crt: stranger.cert + stranger.key, ca: projectCa.cert });
    assert.equal(out.best, undefined);
    assert.match(out.errors.join(), /alert|certificate|reset|socket hang up/i);
  });

  it("a POST is refused by HAProxy; a client's x-skiff-sni is replaced by the SNI it sent, and an app's mesh name never reaches the share", async () => {
    const ask = (method: string, headers: Record<string, string>, servername: string) =>
      new Promise<number>((resolve, reject) => {
        const q = request({ host: ADDR, port: MESH_PORT, path: "/tls/shop_web_shop.example.test", method, servername, headers: { host: servername, ...headers }, ca: projectCa.cert, cert: machineCrt, key: machineCrt, agent: false }, (res) => {
          res.resume();
          resolve(res.statusCode!);
        });
        q.on("error", reject);
        q.end();
      });
    assert.equal(await ask("GET", {}, "0-tls.shop.internal"), 200);
    assert.equal(await ask("POST", {}, "0-tls.shop.internal"), 403);
    // The header is HAProxy's: a client's own is replaced by the SNI it really sent (here the right one).
    assert.equal(await ask("GET", { "x-skiff-sni": "0-tls.blog.internal" }, "0-tls.shop.internal"), 200);
    // An app's name on the mesh with the share's header forged: the request never reaches the share.
    assert.notEqual(await ask("GET", { "x-skiff-sni": "0-tls.shop.internal" }, "web.shop.internal"), 200);
  });
});
