// tls: auto, the order process (src/agent/acme-child.ts, dist/skiff-acme.cjs)
// against Debian's pebble on loopback: pebble validates HTTP-01 against a real
// HAProxy answering statelessly with the account's thumbprint (nothing is set
// up per challenge), the child gets a chain for the host and a new key, a second
// order with the account URL (a renewal) and a third that looks the account up
// again (the acme-client + pebble empty-update bug, memo §2) both work.
// Never PEBBLE_VA_ALWAYS_VALID: pebble really fetches the answer.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { X509Certificate, createPrivateKey } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { acmeChallengeLines } from "../../src/proxy/tls.ts";
import { newAccountKey, thumbprint } from "../../src/secrets/acme-account.ts";
import type { OrderRequest, OrderResult } from "../../src/agent/acme-child.ts";
import { runOrder } from "../../src/agent/acme-run.ts";
import { issueCert } from "../../src/agent/acme-issue.ts";
import { TlsStore } from "../../src/agent/proxy-tls.ts";
import { testCa, testLeaf } from "../tls-fixture.ts";

const ENTRY = new URL("../../src/agent/acme-entry.ts", import.meta.url).pathname;
const HOST = "auto.skiff.test";
const have = ["/usr/bin/pebble", "/usr/bin/pebble-challtestsrv", "/usr/sbin/haproxy"].every(existsSync);

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });

const procs: ChildProcess[] = [];
let dir: string;
let directory: string;
let caFile: string;
const accountKey = newAccountKey();

async function waitFor(what: string, fn: () => Promise<unknown>, ms = 15_000): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    try {
      await fn();
      return;
    } catch (e) {
      if (Date.now() > until) throw new Error(`${what} did not start: ${(e as Error).message}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

function run(cmd: string, args: string[], env: Record<string, string> = {}): ChildProcess {
  const p = spawn(cmd, args, { cwd: dir, env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "ignore"] });
  procs.push(p);
  return p;
}

/** Through the agent's own runner (acme-run.ts), with the source run by tsx in place of dist/skiff-acme.cjs. */
const orderOnce = (r: Partial<OrderRequest>, trust = true): Promise<OrderResult> =>
  runOrder({ directory, accountKey, hosts: [HOST], backoffMinMs: 500, ...r }, { program: ENTRY, nodeArgs: ["--import", "tsx"], caFile: trust ? caFile : undefined, timeoutMs: 60_000 });

describe("an ACME order against pebble, answered by HAProxy", { skip: !have && "pebble or haproxy is not installed (scripts/tools.sh installs them)", timeout: 120_000 }, () => {
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "skiff-pebble-"));
    const [acmePort, mgmt, dns, dnsMgmt, http] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
    // pebble's own listener certificate (Debian's package ships none): a throwaway CA the order process trusts.
    const ca = await testCa("pebble listener CA");
    const listener = await testLeaf(ca, ["localhost"]);
    caFile = join(dir, "ca.pem");
    writeFileSync(caFile, ca.cert);
    writeFileSync(join(dir, "listener.pem"), listener.cert);
    writeFileSync(join(dir, "listener.key"), listener.key);
    writeFileSync(join(dir, "pebble.json"), JSON.stringify({ pebble: { listenAddress: `127.0.0.1:${acmePort}`, managementListenAddress: `127.0.0.1:${mgmt}`, certificate: join(dir, "listener.pem"), privateKey: join(dir, "listener.key"), httpPort: http, tlsPort: await freePort(), ocspResponderURL: "", externalAccountBindingRequired: false, certificateValidityPeriod: 120 } }));
    writeFileSync(
      join(dir, "haproxy.cfg"),
      ["global", "defaults", "  mode http", "  timeout connect 2s", "  timeout client 5s", "  timeout server 5s", "frontend public", `  bind 127.0.0.1:${http}`, ...acmeChallengeLines([{ thumbprint: thumbprint(accountKey), hosts: [HOST] }]), '  http-request return status 404 content-type text/plain string "none"', ""].join("\n"),
    );
    run("/usr/sbin/haproxy", ["-db", "-f", join(dir, "haproxy.cfg")]);
    run("/usr/bin/pebble-challtestsrv", ["-dns01", `127.0.0.1:${dns}`, "-http01", "", "-https01", "", "-tlsalpn01", "", "-management", `127.0.0.1:${dnsMgmt}`, "-defaultIPv4", "", "-defaultIPv6", ""]);
    run("/usr/bin/pebble", ["-config", join(dir, "pebble.json"), "-dnsserver", `127.0.0.1:${dns}`, "-strict=false"], { PEBBLE_VA_NOSLEEP: "1", PEBBLE_WFE_NONCEREJECT: "0", PEBBLE_AUTHZREUSE: "0" });
    await waitFor("pebble-challtestsrv", async () => {
      const r = await fetch(`http://127.0.0.1:${dnsMgmt}/clear-a`, { method: "POST", body: JSON.stringify({ host: HOST }) });
      if (!r.ok) throw new Error(String(r.status));
    });
    const add = await fetch(`http://127.0.0.1:${dnsMgmt}/add-a`, { method: "POST", body: JSON.stringify({ host: HOST, addresses: ["127.0.0.1"] }) });
    assert.equal(add.status, 200);
    directory = `https://localhost:${acmePort}/dir`;
    await waitFor("pebble", async () => {
      const r = await orderOnce({ hosts: [] }).catch((e: Error) => ({ ok: false as const, error: e.message }));
      // An order for no names is refused by pebble itself: it answers, so it is up.
      if (!r.ok && /ECONNREFUSED|not trusted|socket hang up/.test(r.error)) throw new Error(r.error);
    });
  });

  after(() => {
    for (const p of procs) p.kill("SIGTERM");
  });

  it("orders a certificate for the host: pebble's chain, the child's new key, 120 s of validity; renewals with and without the account URL", async () => {
    const first = await orderOnce({});
    assert.ok(first.ok, !first.ok ? first.error : "");
    const leaf = new X509Certificate(first.cert);
    assert.equal(leaf.checkHost(HOST), HOST);
    assert.match(leaf.issuer, /Pebble Intermediate CA/);
    assert.ok(leaf.checkPrivateKey(createPrivateKey(first.key)), "the key is the certificate's");
    const life = (Date.parse(leaf.validTo) - Date.parse(leaf.validFrom)) / 1000;
    assert.ok(life > 100 && life <= 120, `about 120 s (${life})`);
    assert.match(first.accountUrl, /^https:\/\/localhost:\d+\//);
    console.error(`acme order (pebble, loopback): ${JSON.stringify(first.ms)} ms`);
    const renewal = await orderOnce({ accountUrl: first.accountUrl });
    assert.ok(renewal.ok, !renewal.ok ? renewal.error : "");
    const again = await orderOnce({});
    assert.ok(again.ok, !again.ok ? again.error : "the account is found again, not updated empty");
    assert.equal(again.accountUrl, first.accountUrl);
    const serials = new Set([first, renewal, again].map((r) => new X509Certificate((r as { cert: string }).cert).serialNumber));
    assert.equal(serials.size, 3);
  });

  it("the agent's issueCert: ordered, installed in the tls store (0600, crt-list), the account URL kept for the next order", async () => {
    const store = new TlsStore(mkdtempSync(join(tmpdir(), "skiff-issue-")), { loaded: async () => false, entries: async () => [], add: async () => {}, swap: async () => {}, remove: async () => {} });
    const req = { project: "shop", id: "shop_web_auto.skiff.test", hosts: [HOST], directory, accountKey, caFile };
    const run = { program: ENTRY, nodeArgs: ["--import", "tsx"] };
    const first = await issueCert(store.dir, (...a) => store.set(...a), req, run);
    assert.equal(first.applied, "disk");
    assert.deepEqual(first.cert.hosts, [HOST]);
    assert.equal(statSync(join(store.dir, "shop_web_auto.skiff.test.pem")).mode & 0o777, 0o600);
    const account = join(store.dir, "acme-account.shop.json");
    assert.equal(statSync(account).mode & 0o777, 0o600);
    assert.equal((JSON.parse(readFileSync(account, "utf8")) as { directory: string }).directory, directory);
    const second = await issueCert(store.dir, (...a) => store.set(...a), req, run);
    assert.notEqual(second.cert.serial, first.cert.serial);
    assert.equal(readFileSync(account, "utf8"), JSON.stringify({ directory, url: (JSON.parse(readFileSync(account, "utf8")) as { url: string }).url }), "the same account, kept");
    await assert.rejects(issueCert(store.dir, (...a) => store.set(...a), { ...req, caFile: undefined }, run), /ACME order for auto\.skiff\.test failed: the ACME directory .* is not trusted/);
  });

  it("a kept account URL the CA does not know (it lost its accounts, or the key changed) is looked up again by the key, once, and replaced", async () => {
    const store = new TlsStore(mkdtempSync(join(tmpdir(), "skiff-issue-")), { loaded: async () => false, entries: async () => [], add: async () => {}, swap: async () => {}, remove: async () => {} });
    const account = join(store.dir, "acme-account.shop.json");
    const stale = `${directory.replace(/\/dir$/, "")}/my-account/0000000000000000`;
    mkdirSync(store.dir, { recursive: true });
    writeFileSync(account, JSON.stringify({ directory, url: stale }));
    const req = { project: "shop", id: "shop_web_auto.skiff.test", hosts: [HOST], directory, accountKey, caFile };
    const r = await issueCert(store.dir, (...a) => store.set(...a), req, { program: ENTRY, nodeArgs: ["--import", "tsx"] });
    assert.deepEqual(r.cert.hosts, [HOST]);
    const kept = JSON.parse(readFileSync(account, "utf8")) as { url: string };
    assert.notEqual(kept.url, stale, "the URL the CA gave for the key replaces the stale one");
  });

  it("a directory it does not trust is an error that says so, not a stack", async () => {
    const r = await orderOnce({ backoffMinMs: 100 }, false);
    assert.equal(r.ok, false);
    assert.match((r as { error: string }).error, /^the ACME directory https:\/\/localhost:\d+\/dir is not trusted \(\w+\)$/);
  });
});
