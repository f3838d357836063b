// Mutual TLS between machines: the project CA and machine certificates (the
// chain verifies with Node's own X.509; the machine's key never leaves it), the
// agent's checks before it takes a certificate, and the mesh in haproxy.cfg.
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { spawnSync } from "node:child_process";
import { mkdtempSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { MeshCerts } from "../../src/agent/mesh-certs.ts";
import { renderConfig } from "../../src/proxy/config.ts";
import { meshCrtList, meshTcpFrontendLines, type MeshState } from "../../src/proxy/mesh.ts";
import type { ProxyBackend, ProxyState } from "../../src/proxy/model.ts";
import { createCa, issueMachineCert } from "../../src/secrets/ca.ts";
import { certProblem } from "../../src/exec/certs.ts";

const PATHS = { statsSocket: "/run/skiff/haproxy.sock", pidFile: "/run/skiff/haproxy.pid", threads: 1 };
const tmp = () => mkdtempSync(join(tmpdir(), "skiff-mesh-"));

describe("project CA and machine certificates", () => {
  it("a machine certificate for the agent's own public key chains to the CA and names the machine and the project's apps", async () => {
    const ca = await createCa("shop");
    const root = new X509Certificate(ca.cert);
    assert.equal(root.ca, true);
    assert.match(root.subject, /CN=skiff shop mesh CA [0-9a-f]{8}/);
    assert.ok(new Date(root.validTo).getTime() - Date.now() > 3600 * 86_400_000, "the CA lasts about ten years");
    const agent = new MeshCerts(tmp());
    const pem = await issueMachineCert(ca, { project: "shop", machine: "m1", publicKey: agent.newKey("shop") });
    const leaf = new X509Certificate(pem);
    assert.equal(leaf.ca, false);
    assert.ok(leaf.checkIssued(root) && leaf.verify(root.publicKey));
    assert.equal(leaf.subjectAltName, "DNS:m1, DNS:*.shop.internal");
    assert.equal(leaf.checkHost("web.shop.internal"), "*.shop.internal", "peers connect with the app's mesh name as SNI");
    assert.equal(leaf.checkHost("web.other.internal"), undefined);
    const days = (new Date(leaf.validTo).getTime() - Date.now()) / 86_400_000;
    assert.ok(days > 364 && days < 366, `a year (${days})`);
    const other = new X509Certificate((await createCa("shop")).cert);
    assert.equal(leaf.verify(other.publicKey), false, "another CA of the same project does not verify it");
  });

  it("the agent takes only a certificate for its waiting key, signed by the CA it came with; files 0600 (key) and 0644 (CA)", async () => {
    const ca = await createCa("shop");
    const dir = tmp();
    const agent = new MeshCerts(dir);
    const someoneElse = new MeshCerts(tmp());
    const foreign = await issueMachineCert(ca, { project: "shop", machine: "m1", publicKey: someoneElse.newKey("shop") });
    agent.newKey("shop");
    assert.throws(() => agent.install("shop", foreign, ca.cert), /not for this machine's key/);
    const mine = await issueMachineCert(ca, { project: "shop", machine: "m1", publicKey: agent.newKey("shop") });
    const otherCa = await createCa("shop");
    assert.throws(() => agent.install("shop", mine, otherCa.cert), /not signed by the project CA/);
    const r = agent.install("shop", mine, ca.cert);
    assert.equal(statSync(r.files.crt).mode & 0o777, 0o600);
    assert.equal(statSync(r.files.ca).mode & 0o777, 0o644);
    assert.match(r.crtPem, /BEGIN CERTIFICATE[\s\S]+BEGIN PRIVATE KEY/);
    assert.equal(r.caChanged, true);
    // The same certificate again (a repeated step): taken with the key in use; the CA did not change.
    assert.equal(agent.install("shop", mine, ca.cert).caChanged, false);
    const [info] = agent.list();
    assert.equal(info!.project, "shop");
    assert.equal(certProblem(info, ca.cert), undefined);
    assert.equal(certProblem(info, otherCa.cert), "issued by another CA");
    assert.equal(certProblem(undefined, ca.cert), "no certificate");
    assert.match(certProblem(info, ca.cert, new Date(Date.now() + 350 * 86_400_000)) ?? "", /^expires in 1\d days$/);
  });
});

const backend = (b: Partial<ProxyBackend>): ProxyBackend => ({
  name: "skiff_shop_web", project: "shop", app: "web", routes: [{ path: "/" }], healthPath: "/healthz", intervalMs: 1000,
  slots: [
    { name: "s1", addr: "127.0.0.1", port: 20001, state: "ready", instance: "i1" },
    { name: "p1", addr: "10.0.0.2", port: 7443, state: "maint", instance: "m2", peer: true },
    { name: "q1", addr: "10.0.0.2", port: 7443, state: "ready", instance: "m2", peer: true, backup: true },
  ],
  ...b,
});
const mesh: MeshState = { addr: "10.0.0.1", port: 7443, crtList: "/var/lib/skiff/proxy/mesh/crt-list", certs: [{ project: "shop", crt: "/var/lib/skiff/proxy/mesh/shop.pem", ca: "/var/lib/skiff/proxy/mesh/shop.ca.pem" }] };
const section = (cfg: string, name: string) => cfg.split("\n\n").find((s) => s.startsWith(name)) ?? "";

describe("the mesh in haproxy.cfg", () => {
  const state: ProxyState = { httpPort: 80, backends: [backend({}), backend({ name: "skiff_blog_web", project: "blog", app: "web" })], mesh };
  const cfg = renderConfig(state, PATHS);

  it("listens on the private address only, TLS with a client certificate required, routing by SNI to this project's backends", () => {
    const f = section(cfg, "frontend mesh").split("\n");
    assert.equal(f[1], "  bind 10.0.0.1:7443 ssl crt-list /var/lib/skiff/proxy/mesh/crt-list verify required ca-file /var/lib/skiff/proxy/mesh/shop.ca.pem");
    assert.ok(f.includes("  use_backend skiff_shop_web if { ssl_fc_sni -i web.shop.internal }"));
    assert.ok(!f.some((l) => l.includes("skiff_blog_web")), "no certificate for project blog here: its backend is not on the mesh");
    assert.equal(f.at(-1), "  default_backend skiff_mesh_none");
    assert.match(section(cfg, "backend skiff_mesh_none"), /http-request return status 503 /, "a name not served here is a 503 the sender retries elsewhere, not a 404");
    assert.ok(f.indexOf("  http-request reject if !{ ssl_fc_sni -m found }") > 0, "a connection that lost its TLS name is closed unanswered");
  });

  it("serves only this machine's own instances: with none of them up, a 503 (the sender tries another peer), never a second hop", () => {
    const f = section(cfg, "frontend mesh").split("\n");
    const rule = f.findIndex((l) => l.startsWith("  http-request return status 503") && l.includes("no instance of web"));
    assert.ok(rule > 0 && rule < f.findIndex((l) => l.startsWith("  use_backend")));
    assert.match(f[rule]!, / if \{ ssl_fc_sni -i web\.shop\.internal \} !\{ srv_is_up\(skiff_shop_web\/s1\) \}$/, "peer slots p1 and q1 do not count");
    const none = renderConfig({ ...state, backends: [backend({ slots: backend({}).slots.filter((s) => s.peer) })] }, PATHS);
    assert.match(section(none, "frontend mesh"), /no instance of web is up on this machine\\n" if \{ ssl_fc_sni -i web\.shop\.internal \}\n/, "no local slot at all: always refused");
  });

  it("refuses a request forwarded once already (no second hop), marks what it forwards, and no client can forge the mark", () => {
    const f = section(cfg, "frontend mesh");
    const refuse = f.indexOf("http-request return status 503");
    assert.ok(refuse > 0 && refuse < f.indexOf("http-request set-header x-skiff-hop 1"), "refused before it is marked");
    assert.match(f, /if \{ req\.hdr\(x-skiff-hop\) -m found \}/);
    assert.match(section(cfg, "frontend public"), /\n {2}http-request del-header x-skiff-hop\n/);
    assert.match(section(cfg, "frontend internal"), /\n {2}http-request del-header x-skiff-hop\n/);
  });

  it("a peer's check is answered by the mesh frontend from its own instances' state, never handed to an instance; no client can forge one", () => {
    const b = section(cfg, "backend skiff_shop_web");
    // Checks of a backend with peer slots carry the check header (to the local instances too, which ignore it).
    assert.match(b, /\n {2}option httpchk\n {2}http-check send meth GET uri \/healthz hdr x-skiff-check 1\n {2}http-check expect status 200-399\n/);
    const f = section(cfg, "frontend mesh");
    const up = f.split("\n").filter((l) => l.includes("req.hdr(x-skiff-check)"));
    assert.ok(up.length > 0);
    for (const l of up) assert.match(l, /^ {2}http-request return status 200 content-type text\/plain string "up\\n" if \{ req\.hdr\(x-skiff-check\) -m found \} \{ ssl_fc_sni -i web\.shop\.internal \} \{ srv_is_up\(skiff_shop_web\/[sb]\d+\) \}$/, l);
    // Answered before the request could be handed on; with no local instance up, the 503 that follows answers it.
    assert.ok(f.indexOf("req.hdr(x-skiff-check)") < f.indexOf("use_backend skiff_shop_web"));
    for (const fe of ["frontend public", "frontend internal"]) assert.match(section(cfg, fe), /\n {2}http-request del-header x-skiff-check\n/);
    // A backend with no peer slots checks as before.
    assert.match(renderConfig({ httpPort: 80, backends: [backend({ slots: backend({}).slots.filter((s) => !s.peer) })] }, PATHS), /\n {2}option httpchk GET \/healthz\n/);
  });

  it("peer slots speak TLS to the peer's mesh frontend with this machine's certificate; local slots do not", () => {
    const b = section(cfg, "backend skiff_shop_web");
    const tls = "ssl verify required ca-file /var/lib/skiff/proxy/mesh/shop.ca.pem crt /var/lib/skiff/proxy/mesh/shop.pem sni str(web.shop.internal) check-sni web.shop.internal";
    assert.match(b, new RegExp(`server p1 10\\.0\\.0\\.2:7443 check ${tls.replace(/[()./]/g, "\\$&")} inter 2000ms fastinter \\d+ms disabled`));
    assert.match(b, new RegExp(`server q1 10\\.0\\.0\\.2:7443 check ${tls.replace(/[()./]/g, "\\$&")} inter 2000ms`));
    assert.match(b, /server s1 127\.0\.0\.1:20001 check\n|server s1 127\.0\.0\.1:20001 check$/m);
    assert.doesNotMatch(section(cfg, "backend skiff_blog_web"), /ssl/, "no certificate for blog: nothing to present");
  });

  it("before any certificate there is no mesh frontend", () => {
    const plain = renderConfig({ httpPort: 80, backends: [backend({})] }, PATHS);
    assert.doesNotMatch(plain, /frontend mesh|ssl/);
  });

  it("each project's certificate answers only its own names and checks clients against its own CA", () => {
    const two: MeshState = { ...mesh, certs: [...mesh.certs, { project: "blog", crt: "/m/blog.pem", ca: "/m/blog.ca.pem" }] };
    assert.equal(meshCrtList(two), "/var/lib/skiff/proxy/mesh/shop.pem [ca-file /var/lib/skiff/proxy/mesh/shop.ca.pem verify required] *.shop.internal\n/m/blog.pem [ca-file /m/blog.ca.pem verify required] *.blog.internal\n");
    assert.throws(() => renderConfig({ ...state, mesh: { ...mesh, addr: "10.0.0.1 ssl" } }, PATHS), /mesh address/);
    assert.throws(() => meshCrtList({ ...mesh, certs: [{ project: "a b", crt: "/x", ca: "/y" }] }), /project/);
  });
});

describe("a certificate into the proxy state (proxy-mesh.ts)", async () => {
  const { applyMeshCert, savedMesh } = await import("../../src/agent/proxy-mesh.ts");
  const { readFileSync: read, existsSync: exists, mkdirSync: mkdir } = await import("node:fs");
  function deps(opts: { failReload?: boolean } = {}) {
    const calls: string[] = [];
    const state: ProxyState = { httpPort: 80, backends: [] };
    return {
      calls,
      state,
      d: {
        state,
        running: () => true,
        restructure: async () => {
          calls.push("reload");
          if (opts.failReload) throw new Error("HAProxy refused the file");
        },
        persist: async () => void calls.push("persist"),
        swap: async (kind: string, path: string) => void calls.push(`swap ${kind} ${path}`),
      },
    };
  }
  const install = (dir: string, o: Partial<{ caChanged: boolean; addr: string }> = {}) => ({
    project: "shop", addr: o.addr ?? "10.0.0.1", port: 7443, crtList: join(dir, "crt-list"), files: { crt: join(dir, "shop.pem"), ca: join(dir, "shop.ca.pem") }, crtPem: "C", caPem: "A", caChanged: o.caChanged ?? false,
  });

  it("the first certificate reloads (new frontend) and is kept in mesh.json too; the next ones go in live, the CA before the certificate", async () => {
    const proxyDir = tmp();
    const dir = join(proxyDir, "mesh");
    mkdir(dir);
    const { d, calls, state } = deps();
    assert.equal(await applyMeshCert(d, install(dir, { caChanged: true })), "reload");
    assert.deepEqual(calls, ["reload"]);
    assert.match(read(join(dir, "crt-list"), "utf8"), /shop\.pem \[ca-file .*shop\.ca\.pem verify required\] \*\.shop\.internal/);
    assert.deepEqual(savedMesh(proxyDir), state.mesh);
    calls.length = 0;
    assert.equal(await applyMeshCert(d, install(dir)), "live");
    assert.deepEqual(calls, [`swap cert ${join(dir, "shop.pem")}`], "a rotation: no reload");
    calls.length = 0;
    await applyMeshCert(d, install(dir, { caChanged: true }));
    assert.deepEqual(calls, [`swap ca-file ${join(dir, "shop.ca.pem")}`, `swap cert ${join(dir, "shop.pem")}`]);
    calls.length = 0;
    assert.equal(await applyMeshCert(d, install(dir, { addr: "10.0.0.9" })), "reload", "a new address is a new bind");
  });

  it("a reload HAProxy refuses leaves the state and the crt-list as they were", async () => {
    const dir = join(tmp(), "mesh");
    mkdir(dir);
    const { d, state } = deps({ failReload: true });
    await assert.rejects(applyMeshCert(d, install(dir)), /refused/);
    assert.equal(state.mesh, undefined);
    assert.equal(exists(join(dir, "crt-list")), false);
  });
});

describe("TCP apps over the mesh", () => {
  const db = (b: Partial<ProxyBackend>): ProxyBackend =>
    backend({ name: "skiff_shop_db", app: "db", tcpPort: 5432, routes: [], healthPath: undefined, slots: backend({}).slots.map((s) => (s.peer ? { ...s, port: 7444 } : s)), ...b });
  const state: ProxyState = { httpPort: 80, backends: [backend({}), db({})], mesh };
  const cfg = renderConfig(state, PATHS);

  it("mesh_tcp takes other machines' connections under the same certificates and hands them to the app's local instances only", () => {
    const f = section(cfg, "frontend mesh_tcp").split("\n");
    assert.deepEqual(f.slice(1), [
      "  bind 10.0.0.1:7444 ssl crt-list /var/lib/skiff/proxy/mesh/crt-list verify required ca-file /var/lib/skiff/proxy/mesh/shop.ca.pem",
      "  tcp-request session reject if !{ ssl_fc_sni -i db.shop.internal }",
      "  use_backend skiff_shop_db if { ssl_fc_sni -i db.shop.internal }",
    ]);
    assert.ok(cfg.indexOf("frontend mesh_tcp") > cfg.indexOf("defaults\n  mode tcp"), "in the TCP part of the file");
    assert.doesNotMatch(section(cfg, "backend skiff_shop_db"), /server [pq]\d/, "the backend it uses holds no peer: never a second hop");
    assert.deepEqual(meshTcpFrontendLines({ ...state, backends: [backend({})] }), [], "no TCP app: no frontend");
  });

  it("peer slots connect to the peer's mesh_tcp port with the project's certificate and check its HTTP mesh port: up only while it has an instance up", () => {
    const peers = section(cfg, "backend skiff_shop_db.peers").split("\n").filter((l) => /^ {2}server [pq]1 /.test(l));
    for (const l of peers) assert.match(l, / 10\.0\.0\.2:7444 check port 7443 check-ssl ssl verify required ca-file \S+shop\.ca\.pem crt \S+shop\.pem sni str\(db\.shop\.internal\) check-sni db\.shop\.internal/);
    const f = section(cfg, "frontend mesh");
    assert.match(f, /http-request return status 200 content-type text\/plain string "up\\n" if \{ path \/\.skiff\/up \} \{ ssl_fc_sni -i db\.shop\.internal \} \{ srv_is_up\(skiff_shop_db\/s1\) \}\n/);
    assert.match(f, /http-request return status 503 [^\n]+ if \{ path \/\.skiff\/up \} \{ ssl_fc_sni -i db\.shop\.internal \}\n/);
    assert.ok(!f.includes("use_backend skiff_shop_db "), "an HTTP frontend cannot use a tcp backend");
  });

  const haproxy = spawnSync("haproxy", ["-v"]).status === 0;
  it("haproxy -c accepts the mesh with HTTP and TCP apps, with real certificates, without a warning", { skip: haproxy ? false : "haproxy is not installed here (scripts/tools.txt lists it)" }, async () => {
    const dir = tmp();
    const ca = await createCa("shop");
    const agent = new MeshCerts(join(dir, "mesh"));
    const r = agent.install("shop", await issueMachineCert(ca, { project: "shop", machine: "m1", publicKey: agent.newKey("shop") }), ca.cert);
    const m: MeshState = { addr: "127.0.0.1", port: 7443, crtList: join(dir, "crt-list"), certs: [{ project: "shop", crt: r.files.crt, ca: r.files.ca }] };
    writeFileSync(m.crtList, meshCrtList(m));
    const file = join(dir, "haproxy.cfg");
    writeFileSync(file, renderConfig({ ...state, mesh: m }, { ...PATHS, statsSocket: join(dir, "s.sock"), pidFile: join(dir, "p.pid") }));
    const c = spawnSync("haproxy", ["-c", "-f", file], { encoding: "utf8" });
    assert.equal(c.status, 0, c.stderr + c.stdout);
    assert.doesNotMatch(c.stderr + c.stdout, /WARNING|ALERT/, c.stderr + c.stdout);
  });
});
