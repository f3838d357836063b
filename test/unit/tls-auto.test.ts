// tls: auto without a CA: the config (tls: auto, acme settings, the mistakes),
// the mesh share in haproxy.cfg (`haproxy -c` on it), the plan's lines
// (certificate to issue / served), and the agent's renewal tick with a fake
// clock: who pulls, who orders, when.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { AutoTls, type AutoEntry } from "../../src/agent/acme-auto.ts";
import type { CertTimes } from "../../src/agent/acme-schedule.ts";
import { MeshCerts } from "../../src/agent/mesh-certs.ts";
import { checkConfig } from "../../src/config/load.ts";
import { formatDiagnostic } from "../../src/errors.ts";
import { autoCerts } from "../../src/exec/tls-auto.ts";
import { certLine } from "../../src/plan/render.ts";
import { renderConfig } from "../../src/proxy/config.ts";
import type { ProxyBackend, ProxyState } from "../../src/proxy/model.ts";
import { testCa, testLeaf } from "../tls-fixture.ts";

const tmp = () => mkdtempSync(join(tmpdir(), "skiff-tls-auto-"));
const yml = (route: string, extra = "") => `project: shop
machines:
  m1: { host: 10.0.0.1 }
${extra}apps:
  web:
    image: nginx:1.27
    routes:
      - ${route}
`;

describe("config: tls: auto", () => {
  it("`tls: auto` and `{ auto: true, hsts }`; the ACME directory is Let's Encrypt unless set; acme.ca is a file in the repo", async () => {
    const dir = tmp();
    const a = checkConfig(yml("{ host: shop.example.test, tls: auto }"), join(dir, "skiff.yml"));
    assert.deepEqual(a.diagnostics, []);
    assert.deepEqual(a.project!.apps.web!.routes, [{ host: "shop.example.test", path: "/", tls: { auto: true } }]);
    assert.deepEqual(a.project!.acme, { directory: "https://acme-v02.api.letsencrypt.org/directory" });
    assert.deepEqual(autoCerts(a.project!, a.project!.apps.web!), [{ app: "web", id: "shop_web_shop.example.test", hosts: ["shop.example.test"] }]);
    writeFileSync(join(dir, "ca.pem"), (await testCa()).cert);
    const b = checkConfig(yml("{ host: shop.example.test, tls: { auto: true, hsts: true } }", `acme: { directory: "https://ca.test/dir", email: ops@example.test, ca: ca.pem }\n`), join(dir, "skiff.yml"));
    assert.deepEqual(b.diagnostics, []);
    assert.deepEqual(b.project!.apps.web!.routes[0]!.tls, { auto: true, hstsS: 31536000 });
    assert.deepEqual(b.project!.acme, { directory: "https://ca.test/dir", email: "ops@example.test", caFile: join(dir, "ca.pem") });
  });

  it("mistakes are errors at their line: auto with a cert, no host, half a repo certificate, a plain-HTTP directory, a missing CA file", () => {
    const dir = tmp();
    const at = (route: string, extra = "") => checkConfig(yml(route, extra), join(dir, "skiff.yml")).diagnostics.map(formatDiagnostic).join("\n");
    assert.match(at("{ host: shop.example.test, tls: { auto: true, cert: c.pem, key: K } }"), /skiff\.yml:8:\d+.*tls has auto and a cert: one source only/);
    assert.match(at("{ path: /, tls: auto }"), /has tls but no host/);
    assert.match(at("{ host: shop.example.test, tls: { key: K } }"), /tls needs cert \(or auto\)/);
    assert.match(at("{ host: shop.example.test, tls: auto }", "acme: { directory: http://ca.test/dir }\n"), /skiff\.yml:4:\d+.*must be an https:\/\/ URL/);
    assert.match(at("{ host: shop.example.test, tls: auto }", "acme: { ca: nope.pem }\n"), /CA file nope\.pem cannot be read \(ENOENT\)/);
  });
});

const backend = (over: Partial<ProxyBackend> = {}): ProxyBackend => ({ name: "skiff_shop_web", project: "shop", app: "web", routes: [{ host: "shop.example.test", path: "/", tls: {} }], healthPath: "/healthz", intervalMs: 1000, slots: [{ name: "s1", addr: "127.0.0.1", port: 20001, state: "ready", weight: 100 }], ...over }) as ProxyBackend;

describe("haproxy.cfg: the mesh hands tls: auto certificates to the agent", () => {
  const paths = (dir: string) => ({ statsSocket: join(dir, "s.sock"), pidFile: join(dir, "p.pid"), threads: 1 });

  it("the mesh frontend sends the project's share name to the share backend (GET /tls/<id> only, the SNI told to the agent); without a mesh, nothing", () => {
    const mesh = { addr: "10.0.0.1", port: 7443, crtList: "/m/crt-list", certs: [{ project: "shop", crt: "/m/shop.pem", ca: "/m/shop.ca.pem" }] };
    const cfg = renderConfig({ httpPort: 80, backends: [backend()], mesh, tlsShare: "/skiff/tls-share.sock", acme: [{ project: "shop", thumbprint: "a".repeat(43), hosts: ["shop.example.test"] }] } as ProxyState, paths("/x"));
    const front = cfg.slice(cfg.indexOf("frontend mesh"), cfg.indexOf("\n\n", cfg.indexOf("frontend mesh")));
    const lines = front.split("\n");
    // The share's name routes first, then the apps' names; a name served by neither gets the mesh's 503.
    const share = lines.indexOf("  use_backend skiff_tls_share if { ssl_fc_sni -i 0-tls.shop.internal 0-alerts.shop.internal }");
    assert.ok(share > 0 && share < lines.findIndex((l) => l.startsWith("  use_backend skiff_shop_")), front);
    assert.equal(lines.at(-1), "  default_backend skiff_mesh_none");
    assert.match(cfg, /\nbackend skiff_tls_share\n {2}http-request deny deny_status 403 unless \{ method GET \} \{ path_reg \^\/\(tls\/\[a-z0-9\]\[a-z0-9_\.-\]\*\|alerts\)\$ \}\n {2}http-request set-header x-skiff-sni %\[ssl_fc_sni\]\n {2}http-response del-header keep-alive\n {2}server agent unix@\/skiff\/tls-share\.sock\n/);
    const none = renderConfig({ httpPort: 80, backends: [backend()], tlsShare: "/skiff/tls-share.sock" } as ProxyState, paths("/x"));
    assert.doesNotMatch(none, /tls_share/);
  });

  it("the CA's HTTP port has a frontend with the answers before any app routes there (the first order comes before the first rollout)", () => {
    const cfg = renderConfig({ httpPort: 80, backends: [], acme: [{ project: "shop", thumbprint: "a".repeat(43), hosts: ["shop.example.test"], httpPort: 8110 }] } as ProxyState, paths("/x"));
    const front = cfg.slice(cfg.indexOf("frontend public_8110"), cfg.indexOf("\n\n", cfg.indexOf("frontend public_8110")));
    assert.match(front, /bind :8110\n/);
    assert.match(front, /lf-string "%\[path,field\(4,\/\)\]\.a{43}" if acme_tok \{ hdr\(host\),field\(1,:\) -i shop\.example\.test \}/);
    assert.match(cfg, /frontend public\n {2}bind :80\n/, "the default port keeps its frontend");
  });

  it("haproxy -c accepts a file with the mesh, the share, the ACME answers and the HTTPS frontend", { skip: !existsSync("/usr/sbin/haproxy") && "haproxy is not installed here (scripts/tools.sh installs it)" }, async () => {
    const dir = tmp();
    const ca = await testCa();
    const machine = await testLeaf(ca, ["m1", "*.shop.internal"]);
    writeFileSync(join(dir, "shop.pem"), machine.cert + machine.key);
    writeFileSync(join(dir, "shop.ca.pem"), ca.cert);
    writeFileSync(join(dir, "mesh-list"), `${join(dir, "shop.pem")} [ca-file ${join(dir, "shop.ca.pem")} verify required] *.shop.internal\n`);
    writeFileSync(join(dir, "crt-list"), "");
    const mesh = { addr: "127.0.0.1", port: 17443, crtList: join(dir, "mesh-list"), certs: [{ project: "shop", crt: join(dir, "shop.pem"), ca: join(dir, "shop.ca.pem") }] };
    const cfg = join(dir, "haproxy.cfg");
    writeFileSync(cfg, renderConfig({ httpPort: 18080, backends: [backend({ httpsPort: 18443 })], mesh, tlsCrtList: join(dir, "crt-list"), tlsShare: join(dir, "share.sock"), acme: [{ project: "shop", thumbprint: "a".repeat(43), hosts: ["shop.example.test"] }] } as ProxyState, paths(dir)));
    assert.match(execFileSync("/usr/sbin/haproxy", ["-c", "-f", cfg], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }), /Configuration file is valid/);
  });
});

describe("plan lines for tls: auto", () => {
  const now = Date.parse("2026-11-30T00:00:00Z");
  it("to issue (with the account key to make), or who serves it and when the first copy ends", () => {
    assert.equal(certLine({ hosts: ["shop.example.test"], source: "acme", directory: "https://acme-v02.api.letsencrypt.org/directory", issue: true, served: [], account: "secrets/default.acme-account.key.age" }, now), "  certificate for shop.example.test to issue over ACME (acme-v02.api.letsencrypt.org; ACME account key to make: secrets/default.acme-account.key.age)");
    assert.equal(certLine({ hosts: ["shop.example.test"], source: "acme", directory: "https://ca.test:14000/dir", issue: false, served: [{ machine: "m1", notAfter: "2027-01-29T00:00:00Z" }, { machine: "m2", notAfter: "2027-01-30T00:00:00Z" }] }, now), "  certificate for shop.example.test over ACME (ca.test:14000): served by m1, m2, the first to expire in 60 days; the machines renew it");
  });
});

/** The tick with the order and the pull replaced: certificates are times on a fake clock. */
class FakeAuto extends AutoTls {
  certs = new Map<string, CertTimes & { serial: string }>();
  /** What the peers hold. */
  peers = new Map<string, CertTimes & { serial: string }>();
  events: string[] = [];
  clock = 0;
  private n = 0;
  constructor(dir: string) {
    super({ tlsDir: () => dir, ensureRunning: async () => {}, setAcmeAccount: async () => true, setTlsCert: async () => { throw new Error("not here"); } }, new MeshCerts(join(dir, "mesh")), () => {}, 600_000, () => this.clock);
  }
  override current(id: string) {
    return this.certs.get(id);
  }
  override async issue(id: string) {
    const c = { notBefore: this.clock, notAfter: this.clock + 120_000, serial: `S${++this.n}` };
    this.certs.set(id, c);
    this.events.push(`order at ${this.clock / 1000}`);
    return { applied: "live" as const, cert: { id, hosts: [], notAfter: "", serial: c.serial }, ms: {} };
  }
  override async pull(id: string) {
    const p = this.peers.get(id);
    const mine = this.certs.get(id);
    this.events.push(`pull at ${this.clock / 1000}`);
    if (p && (!mine || p.notAfter > mine.notAfter)) {
      this.certs.set(id, p);
      return { pulled: true, from: "peer", serial: p.serial, errors: [] };
    }
    return { pulled: false, errors: [] };
  }
}

const entry = (self: string): AutoEntry => ({ project: "shop", app: "web", id: "shop_web_a.test", hosts: ["a.test"], directory: "https://ca.test/dir", accountKey: "k", thumbprint: "t".repeat(43), self, machines: [{ name: "m1" }, { name: "m2" }, { name: "m3" }] });

describe("the renewal tick with no certificate yet", () => {
  it("even rank 0 leaves the first order to the deploy for a grace (10 min here), then orders", async () => {
    const a = new FakeAuto(tmp());
    await a.register(entry("m1"));
    a.events = [];
    for (const t of [0, 300, 599, 600]) {
      a.clock = t * 1000;
      await a.tick();
    }
    assert.deepEqual(a.events.filter((e) => e.startsWith("order")), ["order at 600"]);
  });
});

describe("the renewal tick (120 s certificates: due 40 s before the end, 10 s per rank)", () => {
  it("rank 0 pulls first, finds nothing newer and orders at once; the entry file is 0600 (it holds the account key)", async () => {
    const a = new FakeAuto(tmp());
    await a.register(entry("m1"));
    assert.equal(statSync(join(a.dir, "shop_web_a.test.json")).mode & 0o777, 0o600);
    a.certs.set("shop_web_a.test", { notBefore: 0, notAfter: 120_000, serial: "S0" });
    a.clock = 79_000;
    assert.equal(await a.tick(), 1000, "asleep until due");
    a.clock = 80_000;
    await a.tick();
    assert.deepEqual(a.events, ["pull at 80", "order at 80"]);
  });

  it("rank 2 pulls while it waits its turn; a peer's renewal arrives and it never orders", async () => {
    const a = new FakeAuto(tmp());
    await a.register(entry("m3"));
    a.certs.set("shop_web_a.test", { notBefore: 0, notAfter: 120_000, serial: "S0" });
    for (const t of [80, 82.5, 85]) {
      a.clock = t * 1000;
      await a.tick();
    }
    a.peers.set("shop_web_a.test", { notBefore: 85_000, notAfter: 205_000, serial: "P1" });
    a.clock = 87_500;
    await a.tick();
    assert.deepEqual(a.events, ["pull at 80", "pull at 82.5", "pull at 85", "pull at 87.5"]);
    assert.equal(a.current("shop_web_a.test")!.serial, "P1");
  });

  it("a pull time left from an earlier due time (the first certificate's, with the 10 min grace) does not hold back the next renewal's pulls", async () => {
    const a = new FakeAuto(tmp());
    await a.register(entry("m3"));
    // No certificate yet: due at once; its pulls would come every 2.5 min (a quarter of the 10 min grace).
    a.clock = 0;
    await a.tick();
    a.certs.set("shop_web_a.test", { notBefore: 1000, notAfter: 121_000, serial: "S0" });
    a.clock = 2000;
    await a.tick();
    a.events = [];
    // Due at 81 s: it pulls then, and every 2.5 s after, not at 150 s.
    a.clock = 81_000;
    await a.tick();
    a.peers.set("shop_web_a.test", { notBefore: 82_000, notAfter: 202_000, serial: "P1" });
    a.clock = 83_500;
    await a.tick();
    assert.deepEqual(a.events, ["pull at 81", "pull at 83.5"]);
    assert.equal(a.current("shop_web_a.test")!.serial, "P1");
  });

  it("rank 1 orders when its turn comes (due for 10 s) and nobody renewed: a leader that is down only delays the renewal", async () => {
    const a = new FakeAuto(tmp());
    await a.register(entry("m2"));
    a.certs.set("shop_web_a.test", { notBefore: 0, notAfter: 120_000, serial: "S0" });
    for (let t = 80; t <= 92; t += 2.5) {
      a.clock = t * 1000;
      await a.tick();
    }
    assert.deepEqual(a.events.filter((e) => e.startsWith("order")), ["order at 90"]);
  });
});
