// tls: auto, its first pieces: the ACME account key's RFC 7638 thumbprint (the
// value acme-client 5.4.0 puts after the token in its HTTP-01 key
// authorization), and HAProxy answering challenges statelessly with it: a real
// HAProxy on loopback serves `<token>.<thumbprint>` for the auto hosts only,
// and reflects nothing that is not a base64url token.
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { newAccountKey, thumbprint } from "../../src/secrets/acme-account.ts";
import { acmeChallengeLines } from "../../src/proxy/tls.ts";
import { renderConfig } from "../../src/proxy/config.ts";

// The public half of a throwaway key from the design prototype; acme-client 5.4.0 answered
// getChallengeKeyAuthorization({ type: "http-01", token: "tok" }) with "tok.L-M9YUv6rSM8WW5uRnZL1khWloeyKnSyx0bmd9m8C0M" for it.
const LAB_PUBLIC = `-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEOM/3GPkPGvm0DCbJE8PXGBW/WUn8
/o4ExqFZoeyYPxqLENGNpQk2l1nPcR6cheA7l1E2W1rPpV4bTByXuqczng==
-----END PUBLIC KEY-----
`;

describe("ACME account key", () => {
  it("thumbprint as acme-client computes it; a new key is P-256 PKCS#8 and gives 43 base64url characters", () => {
    assert.equal(thumbprint(LAB_PUBLIC), "L-M9YUv6rSM8WW5uRnZL1khWloeyKnSyx0bmd9m8C0M");
    const key = newAccountKey();
    assert.match(key, /^-----BEGIN PRIVATE KEY-----\n/);
    assert.match(thumbprint(key), /^[A-Za-z0-9_-]{43}$/);
    assert.notEqual(thumbprint(key), thumbprint(newAccountKey()));
  });
});

describe("stateless HTTP-01 in HAProxy", () => {
  it("refuses a thumbprint that is not one (it is written into haproxy.cfg)", () => {
    assert.throws(() => acmeChallengeLines([{ thumbprint: 'x" if TRUE', hosts: ["a.example.test"] }]), /43 base64url/);
    assert.deepEqual(acmeChallengeLines([{ thumbprint: "L-M9YUv6rSM8WW5uRnZL1khWloeyKnSyx0bmd9m8C0M", hosts: [] }]), []);
  });

  it("a real HAProxy answers <token>.<thumbprint> for the auto hosts, 404 otherwise", { skip: !existsSync("/usr/sbin/haproxy") && "haproxy is not installed here (scripts/tools.sh installs it)" }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "skiff-acme-"));
    const port = 20000 + Math.floor(Math.random() * 20000);
    const thumb = thumbprint(LAB_PUBLIC);
    writeFileSync(
      join(dir, "haproxy.cfg"),
      ["global", `  pidfile ${join(dir, "pid")}`, "defaults", "  mode http", "  timeout connect 2s", "  timeout client 5s", "  timeout server 5s", "frontend public", `  bind 127.0.0.1:${port}`, ...acmeChallengeLines([{ thumbprint: thumb, hosts: ["a.example.test", "b.example.test"] }]), '  http-request return status 404 content-type text/plain string "none"', ""].join("\n"),
    );
    const hp = spawn("/usr/sbin/haproxy", ["-db", "-f", join(dir, "haproxy.cfg")], { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    hp.stderr.on("data", (b) => (err += b));
    try {
      const get = (path: string, host: string) =>
        new Promise<{ status: number; body: string }>((resolve, reject) => {
          const q = request({ host: "127.0.0.1", port, path, headers: { host }, agent: false }, (res) => {
            let body = "";
            res.on("data", (b) => (body += b));
            res.on("end", () => resolve({ status: res.statusCode!, body }));
          });
          q.on("error", reject);
          q.end();
        });
      const until = Date.now() + 5000;
      for (;;) {
        try {
          await get("/", "x");
          break;
        } catch (e) {
          if (Date.now() > until) throw new Error(`HAProxy did not start: ${err} ${(e as Error).message}`);
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      assert.deepEqual(await get("/.well-known/acme-challenge/Tok_en-1", "a.example.test"), { status: 200, body: `Tok_en-1.${thumb}` });
      assert.deepEqual(await get("/.well-known/acme-challenge/xyz", "B.example.test:80"), { status: 200, body: `xyz.${thumb}` }, "host without case or port");
      assert.equal((await get("/.well-known/acme-challenge/xyz", "c.example.test")).status, 404, "not an auto host");
      const hostile = await get("/.well-known/acme-challenge/bad%3Cx%3E", "a.example.test");
      assert.equal(hostile.status, 404);
      assert.doesNotMatch(hostile.body, /bad|<x>/);
      assert.equal((await get("/.well-known/acme-challenge/a/b", "a.example.test")).status, 404);
    } finally {
      hp.kill("SIGTERM");
      await new Promise((r) => hp.once("close", r));
    }
  });
});

describe("ACME accounts in haproxy.cfg", () => {
  it("every plain HTTP frontend answers each project's auto hosts with that project's thumbprint, before its redirects; haproxy -c accepts it", { skip: !existsSync("/usr/sbin/haproxy") && "haproxy is not installed here" }, () => {
    const dir = mkdtempSync(join(tmpdir(), "skiff-acme-cfg-"));
    const t1 = thumbprint(newAccountKey());
    const t2 = thumbprint(newAccountKey());
    const backend = { name: "skiff_shop_web", project: "shop", app: "web", routes: [{ host: "a.example.test", path: "/", tls: {} }], healthPath: "/healthz", intervalMs: 1000, httpsPort: 18443, slots: [] };
    writeFileSync(join(dir, "crt-list"), "");
    const cfg = renderConfig(
      { httpPort: 18080, tlsCrtList: join(dir, "crt-list"), backends: [backend, { ...backend, name: "skiff_blog_web", project: "blog", routes: [{ host: "b.example.test", path: "/" }], httpPort: 18081 }], acme: [{ project: "shop", thumbprint: t1, hosts: ["a.example.test"] }, { project: "blog", thumbprint: t2, hosts: ["b.example.test"] }] },
      { statsSocket: join(dir, "s.sock"), pidFile: join(dir, "p.pid"), threads: 1 },
    );
    for (const fe of ["frontend public\n", "frontend public_18081\n"]) {
      const part = cfg.slice(cfg.indexOf(fe), cfg.indexOf("default_backend", cfg.indexOf(fe)));
      assert.equal(part.match(/acl acme_tok /g)?.length, 1, fe);
      assert.ok(part.includes(`].${t1}" if acme_tok { hdr(host),field(1,:) -i a.example.test }`) && part.includes(`].${t2}" if acme_tok { hdr(host),field(1,:) -i b.example.test }`), fe);
    }
    const pub = cfg.slice(cfg.indexOf("frontend public\n"));
    assert.ok(pub.indexOf("acme_tok") < pub.indexOf("redirect"), "challenges are answered before the redirect");
    writeFileSync(join(dir, "haproxy.cfg"), cfg);
    assert.match(execFileSync("/usr/sbin/haproxy", ["-c", "-f", join(dir, "haproxy.cfg")], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }), /Configuration file is valid/);
  });
});
