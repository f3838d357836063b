// The certificates of `skiff status`: a served certificate's facts read from
// its PEM, the renewal record of tls: auto (failing since, where a certificate
// came from; never a key), the agent's combined report, the warnings (14 days,
// expired, failing, none yet), who ordered across machines, and the section as
// printed.
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { AutoTls, type AutoEntry } from "../../src/agent/acme-auto.ts";
import { AcmeRecord, shortError } from "../../src/agent/acme-record.ts";
import { certFacts, dnName } from "../../src/agent/cert-facts.ts";
import { MeshCerts } from "../../src/agent/mesh-certs.ts";
import { TlsStore } from "../../src/agent/proxy-tls.ts";
import { agentTlsFacts, tlsFacts } from "../../src/agent/tls-facts.ts";
import { certStatus, certWarnings, type TlsHostFacts } from "../../src/api/cert-status.ts";
import type { MachineState } from "../../src/api/status.ts";
import { renderCerts } from "../../src/cli/status-certs.ts";
import { testCa, testLeaf } from "../tls-fixture.ts";

const tmp = () => mkdtempSync(join(tmpdir(), "skiff-tls-status-"));
const DAY = 86_400_000;
const noRuntime = { loaded: async () => false, entries: async () => [], add: async () => {}, swap: async () => {}, remove: async () => {} };

describe("a certificate's facts from its PEM", () => {
  it("issuer CN (O), names, validity and serial as X509Certificate reads them; a bundle with its key reads the same, and no key comes out", async () => {
    const ca = await testCa("Status Test CA");
    const leaf = await testLeaf(ca, ["shop.example.test", "www.shop.example.test"], { days: 30 });
    const f = certFacts(leaf.cert);
    const x = new X509Certificate(leaf.cert);
    assert.deepEqual(f, {
      subject: "shop.example.test",
      issuer: ca.subject.replace(/^CN=/, ""),
      names: ["shop.example.test", "www.shop.example.test"],
      notBefore: new Date(x.validFrom).toISOString(),
      notAfter: new Date(x.validTo).toISOString(),
      serial: leaf.serial,
      fingerprint256: x.fingerprint256,
    });
    assert.deepEqual(certFacts(`${leaf.cert}\n${leaf.key}`), f);
    assert.doesNotMatch(JSON.stringify(f), /PRIVATE KEY/);
    assert.equal(dnName("C=US\nO=Let's Encrypt\nCN=R3"), "R3 (Let's Encrypt)");
    assert.equal(dnName("O=Only Org"), "Only Org");
    assert.throws(() => certFacts("not a pem"), /no PEM certificate/);
  });
});

describe("the renewal record", () => {
  it("keeps the first failure as failingSince until a success; survives a restart (a new record reads the file, 0600); a forgotten entry goes", () => {
    const dir = tmp();
    const r = new AcmeRecord(dir);
    r.succeeded("a", "ordered", { serial: "S1", from: "m1" }, 1000);
    r.failed("a", "ACME order for a.test failed: connect ECONNREFUSED", 2000);
    r.failed("a", "ACME order for a.test failed: timeout", 3000);
    assert.deepEqual(new AcmeRecord(dir).get("a"), { lastAttemptAt: 3000, lastResult: "failed", lastError: "ACME order for a.test failed: timeout", failingSince: 2000, got: { serial: "S1", from: "m1", at: 1000 } });
    assert.equal(statSync(join(dir, "acme-record.json")).mode & 0o777, 0o600);
    r.succeeded("a", "pulled", { serial: "S2", from: "m2" }, 4000);
    assert.deepEqual(r.get("a"), { lastAttemptAt: 4000, lastResult: "pulled", got: { serial: "S2", from: "m2", at: 4000 } });
    r.drop(["a"]);
    assert.equal(new AcmeRecord(dir).get("a"), undefined);
  });

  it("an error is one short line, with PEM blocks and long base64 runs taken out", () => {
    const pem = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----";
    const e = shortError(`order failed:\n  ${pem}\n token ${"A".repeat(200)} end`);
    assert.equal(e, "order failed: [PEM removed] token […] end");
    const long = shortError("no answer ".repeat(100));
    assert.equal(long.length, 300);
    assert.ok(long.endsWith("…"));
  });
});

const entry = (self: string): AutoEntry => ({ project: "shop", app: "web", id: "shop_web_auto.example.test", hosts: ["auto.example.test"], directory: "https://127.0.0.1:9/dir", accountKey: "-----BEGIN PRIVATE KEY-----\nSECRETKEY\n-----END PRIVATE KEY-----\n", thumbprint: "t".repeat(43), self, machines: [{ name: "m1" }, { name: "m2" }] });

describe("the agent's report (the tls store's facts + AutoTls.report)", () => {
  it("a failed order is recorded with its error and since when; the report holds no key; repo and auto certificates, and an auto one not served yet, are listed", async () => {
    const proxyDir = tmp();
    const store = new TlsStore(proxyDir, noRuntime);
    const auto = new AutoTls({ tlsDir: () => store.dir, ensureRunning: async () => {}, setAcmeAccount: async () => true, setTlsCert: (i, h, c, k) => store.set(i, h, c, k) }, new MeshCerts(join(proxyDir, "mesh")), () => {});
    await auto.register(entry("m1"));
    // A real order that fails: this test's folder has no order program beside it.
    await assert.rejects(auto.issue("shop_web_auto.example.test"), /ACME order for auto\.example\.test failed/);
    const [a] = auto.report();
    assert.equal(a!.auto.lastResult, "failed");
    assert.match(a!.auto.lastError!, /^ACME order for auto\.example\.test failed: /);
    assert.equal(a!.auto.failingSince, a!.auto.lastAttemptAt);
    assert.equal(a!.auto.dueAt, undefined, "none served: due now");

    const ca = await testCa();
    const repo = await testLeaf(ca, ["shop.example.test"], { days: 10 });
    await store.set("shop_api_shop.example.test", ["shop.example.test"], repo.cert, repo.key);
    writeFileSync(join(proxyDir, "tls", "crt-list.bak"), "stray");
    const facts = agentTlsFacts({ tlsDir: () => store.dir }, auto)!;
    assert.deepEqual(
      facts.map((f) => [f.id, f.project, f.app, f.kind, f.hosts, f.cert?.serial ?? null, f.auto?.lastResult ?? null]),
      [
        ["shop_api_shop.example.test", "shop", "api", "repo", ["shop.example.test"], repo.serial, null],
        ["shop_web_auto.example.test", "shop", "web", "auto", ["auto.example.test"], null, "failed"],
      ],
    );
    assert.doesNotMatch(JSON.stringify(facts), /PRIVATE KEY|SECRETKEY/);

    // The auto certificate arrives (pulled from m2): served, due at two thirds of its life, from m2.
    const got = await testLeaf(ca, ["auto.example.test"], { days: 90 });
    await store.set("shop_web_auto.example.test", ["auto.example.test"], got.cert, got.key);
    auto.record.succeeded("shop_web_auto.example.test", "pulled", { serial: got.serial, from: "m2" }, Date.now());
    const after = agentTlsFacts({ tlsDir: () => store.dir }, auto)!.find((f) => f.kind === "auto")!;
    assert.equal(after.cert?.serial, got.serial);
    assert.equal(after.auto?.from, "m2");
    assert.equal(after.auto?.lastError, undefined, "a success clears the error");
    const x = new X509Certificate(got.cert);
    assert.equal(after.auto?.dueAt, new Date(Date.parse(x.validTo) - (Date.parse(x.validTo) - Date.parse(x.validFrom)) / 3).toISOString());
    assert.equal(readFileSync(join(store.dir, "acme-record.json"), "utf8").includes("PRIVATE"), false);
    assert.equal(agentTlsFacts({ tlsDir: () => { throw new Error("no proxy here"); } }), undefined, "unknown, and the state answer goes on");
  });

  it("a certificate id names its project and app; one whose file does not parse is listed without facts", () => {
    const f = tlsFacts([{ id: "shop_web_a.test", hosts: ["a.test"] }, { id: "odd", hosts: ["b.test"] }], []);
    assert.deepEqual(f, [
      { id: "odd", kind: "repo", hosts: ["b.test"] },
      { id: "shop_web_a.test", project: "shop", app: "web", kind: "repo", hosts: ["a.test"] },
    ]);
  });
});

const NOW = Date.parse("2026-11-30T12:00:00Z");
const cert = (serial: string, notAfter: number): TlsHostFacts["cert"] => ({ subject: "a.test", issuer: "R3 (Let's Encrypt)", names: ["a.test"], notBefore: new Date(notAfter - 90 * DAY).toISOString(), notAfter: new Date(notAfter).toISOString(), serial, fingerprint256: "00" });
const repoCert = (days: number): TlsHostFacts => ({ id: "shop_web_a.test", project: "shop", app: "web", kind: "repo", hosts: ["a.test"], cert: cert("R1", NOW + days * DAY) });

describe("warnings", () => {
  it("expiring within 14 days or expired; not at 15 days", () => {
    assert.deepEqual(certWarnings(repoCert(15), NOW), []);
    assert.deepEqual(certWarnings(repoCert(13.5), NOW), ["expires in 13 days (2026-12-14)"]);
    assert.deepEqual(certWarnings(repoCert(0.25), NOW), ["expires in 6 h (2026-11-30)"]);
    assert.deepEqual(certWarnings(repoCert(3.5 / 1440), NOW), ["expires in 3 min (2026-11-30)"]);
    assert.deepEqual(certWarnings(repoCert(-0.5 / 24), NOW), ["expired 30 min ago (2026-11-30)"]);
    assert.deepEqual(certWarnings(repoCert(-3), NOW), ["expired 3 days ago (2026-11-27)"]);
  });

  it("a failing renewal says since when, the last and next try and the error; an auto certificate not served yet says so", () => {
    const f: TlsHostFacts = { ...repoCert(40), kind: "auto", auto: { lastResult: "failed", lastAttemptAt: "2026-11-30T11:00:00.000Z", failingSince: "2026-11-29T08:30:00.000Z", retryAt: "2026-11-30T13:00:00.000Z", lastError: "ACME order for a.test failed: connect ECONNREFUSED 10.0.0.1:443" } };
    assert.deepEqual(certWarnings(f, NOW), ["renewal failing since 2026-11-29 08:30 UTC, last try 2026-11-30 11:00 UTC, next try 2026-11-30 13:00 UTC: ACME order for a.test failed: connect ECONNREFUSED 10.0.0.1:443"]);
    assert.deepEqual(certWarnings({ id: "x", kind: "auto", hosts: ["a.test"], auto: {} }, NOW), ["no certificate served yet"]);
  });
});

describe("across machines", () => {
  const auto = (serial: string, days: number, from?: string, extra: object = {}): TlsHostFacts => ({ id: "shop_web_a.test", project: "shop", app: "web", kind: "auto", hosts: ["a.test"], cert: cert(serial, NOW + days * DAY), auto: { dueAt: new Date(NOW + (days - 30) * DAY).toISOString(), ...(from ? { from } : {}), ...extra } });

  it("who ordered: followed through the pulls while the serial is the same; another project's certificates are left out", () => {
    const s = certStatus(
      [
        { machine: "m1", tls: [auto("A", 60, "m1")] },
        { machine: "m2", tls: [auto("A", 60, "m1")] },
        { machine: "m3", tls: [auto("A", 60, "m2"), { ...repoCert(50), project: "other" }] },
        { machine: "m4", tls: [auto("B", 50, "m1")] },
      ],
      NOW,
      (f) => f.project === "shop",
    );
    assert.deepEqual(
      [...s].map(([m, l]) => [m, l!.map((f) => f.orderedBy ?? null)]),
      [
        ["m1", ["m1"]],
        ["m2", ["m1"]],
        ["m3", ["m1"]],
        ["m4", [null]],
      ],
    );
    assert.equal(s.get("m1")![0]!.expiresInDays, 60);
  });

  it("the section: a row per certificate version, warnings once with their machines, a note where machines differ or cannot say", () => {
    const failing = { lastResult: "failed", lastAttemptAt: "2026-11-30T11:00:00.000Z", failingSince: "2026-11-30T10:00:00.000Z", lastError: "ACME order for a.test failed: the ACME directory https://ca.test/dir did not answer in 10 s" };
    const byMachine = certStatus(
      [
        { machine: "m1", tls: [auto("A", 10, "m1", failing), repoCert(200)].map((f) => (f.kind === "repo" ? { ...f, id: "shop_web_b.test", hosts: ["b.test"] } : f)) },
        { machine: "m2", tls: [auto("A", 10, "m1"), { ...repoCert(200), id: "shop_web_b.test", hosts: ["b.test"] }] },
        { machine: "m3", tls: [auto("B", 70, "m3"), { ...repoCert(200), id: "shop_web_b.test", hosts: ["b.test"] }] },
      ],
      NOW,
    );
    const machines: MachineState[] = [
      ...["m1", "m2", "m3"].map((m) => ({ machine: m, apps: [], damaged: [], tls: byMachine.get(m) })),
      { machine: "m4", apps: [], damaged: [] },
      { machine: "m5", problem: "unreachable", error: "ssh: connect refused" },
    ];
    assert.equal(
      renderCerts(machines, NOW).join("\n"),
      `CERTIFICATE  EXPIRES                   KIND                                          ISSUER              MACHINES
a.test       in 10 days (2026-12-10)   auto (ordered by m1; renewal due)             R3 (Let's Encrypt)  m1, m2
a.test       in 70 days (2027-02-08)   auto (ordered by m3; renews from 2027-01-09)  R3 (Let's Encrypt)  m3
b.test       in 200 days (2027-06-18)  repo                                          R3 (Let's Encrypt)  m1, m2, m3
warning: a.test on m1, m2: expires in 10 days (2026-12-10)
warning: a.test on m1: renewal failing since 2026-11-30 10:00 UTC, last try 2026-11-30 11:00 UTC: ACME order for a.test failed: the ACME directory https://ca.test/dir did not answer in 10 s
note: a.test: the machines serve different certificates: m3 until 2027-02-08 12:00 UTC (serial B…); m1, m2 until 2026-12-10 12:00 UTC (serial A…)
note: m4: certificates unknown (the agent does not report them; \`skiff setup\` updates it)`,
    );
    assert.deepEqual(renderCerts([{ machine: "m1", apps: [], damaged: [], tls: [] }], NOW), [], "no certificates: no section");
  });
});
