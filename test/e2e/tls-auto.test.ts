// tls: auto against a real ACME server: Debian's pebble on the host, at the
// bed network's gateway (the machines reach its directory there, its VA
// reaches their HTTP port), its DNS (pebble-challtestsrv) pointing the test
// host at one machine. 3 machines serve the route (HTTP 8110, HTTPS 8111, the
// Node example app as processes). Shown: `skiff plan` lists the certificate
// to issue; the deploy orders on the rank-0 machine while the CA validates on
// another one (stateless HTTP-01: any machine answers); the other machines
// take the certificate over the mesh; every machine serves it (chain and name
// checked by Node's tls against pebble's root); pebble's certificates last
// 120 s, so the agents renew them by themselves, under load, with no command
// run and no failed request. `skiff status --json` shows what each machine
// serves and who ordered it; a renewal the CA cannot validate (its DNS pointed
// where nothing listens) shows as "renewal failing since …" with pebble's error.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { request as httpsRequest, type Agent } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type TLSSocket } from "node:tls";
import { after, before, describe, it } from "node:test";
import { startLoad } from "../../src/load/load.ts";
import { faults, up, type Bed } from "../../testbed/bed.ts";
import { testCa, testLeaf } from "../tls-fixture.ts";
import { makeProject, type Project, type Run } from "./helpers.ts";

const HELLO_NODE = new URL("../../examples/hello-node", import.meta.url).pathname;
const HTTP = 8110;
const HTTPS = 8111;
const HOST = "auto.skiff.test";
// The bed network's gateway (testbed/bed.ts SUBNET): the host, as the machines see it.
const GATEWAY = "172.30.77.1";
// pebble's directory on the gateway; its management (127.0.0.1:8111), the DNS and the DNS's management on loopback (8110–8111 only).
const DIRECTORY = `https://${GATEWAY}:${HTTPS}/dir`;
const DNS = `127.0.0.2:${HTTP}`;
const DNS_MGMT = `http://127.0.0.2:${HTTPS}`;

let bed: Bed;
let p: Project;
let listenerCa: string;
let root: string;
const procs: ChildProcess[] = [];

const ok = (r: Run, what: string) => assert.equal(r.code, 0, `${what}: ${r.stdout}\n${r.stderr}`);

async function waitFor<T>(what: string, fn: () => Promise<T>, ms = 20_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (Date.now() > until) throw new Error(`${what}: ${(e as Error).message}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** GET over HTTPS with a CA to trust; `agent: false` unless given (a new connection each time). */
function get(o: { host: string; port: number; path: string; ca: string; servername?: string; agent?: Agent }): Promise<{ status: number; body: string; serial: string }> {
  return new Promise((resolve, reject) => {
    const q = httpsRequest({ host: o.host, port: o.port, path: o.path, ca: o.ca, servername: o.servername, headers: o.servername ? { host: o.servername } : {}, agent: o.agent ?? false, timeout: 10_000 }, (res) => {
      let body = "";
      res.on("data", (b) => (body += b));
      res.on("end", () => resolve({ status: res.statusCode!, body, serial: (res.socket as TLSSocket).getPeerX509Certificate?.()?.serialNumber ?? "" }));
    });
    q.on("timeout", () => q.destroy(new Error("timeout")));
    q.on("error", reject);
    q.end();
  });
}

/** The certificate a machine presents for the host, verified by Node against pebble's root (chain and name). */
function handshake(addr: string): Promise<{ serial: string; issuer: string; validFrom: string; validTo: string }> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: addr, port: HTTPS, servername: HOST, ca: root }, () => {
      const c = s.getPeerX509Certificate()!;
      assert.equal(s.authorized, true);
      assert.ok(c.checkHost(HOST), "the certificate names the host");
      resolve({ serial: c.serialNumber, issuer: c.issuer, validFrom: c.validFrom, validTo: c.validTo });
      s.end();
    });
    s.on("error", reject);
  });
}

type CertStatus = { hosts: string[]; kind: string; cert?: { serial: string; notAfter: string; issuer: string }; orderedBy?: string; warnings: string[]; auto?: { dueAt?: string; from?: string; lastResult?: string; lastError?: string; failingSince?: string; lastAttemptAt?: string } };

/** `skiff status --json`, each machine's certificates. */
async function status(): Promise<{ machine: string; tls?: CertStatus[] }[]> {
  const r = await p.skiff(["status", "--json"]);
  ok(r, "status --json");
  assert.doesNotMatch(r.stdout, /PRIVATE KEY/);
  return JSON.parse(r.stdout) as { machine: string; tls?: CertStatus[] }[];
}

async function pointDns(address: string): Promise<void> {
  // add-a appends, and pebble dials the first address: clear first (memo §1).
  for (const [path, body] of [["clear-a", { host: HOST }], ["add-a", { host: HOST, addresses: [address] }]] as const) {
    const r = await fetch(`${DNS_MGMT}/${path}`, { method: "POST", body: JSON.stringify(body) });
    assert.equal(r.status, 200, `challtestsrv ${path}`);
  }
}

function run(cmd: string, args: string[], dir: string, env: Record<string, string> = {}): void {
  const c = spawn(cmd, args, { cwd: dir, env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "ignore"] });
  procs.push(c);
}

describe("tls: auto over ACME (pebble), 3 machines", { timeout: 900_000 }, () => {
  before(async () => {
    bed = await up({ count: 3, log: (s) => console.error(`bed: ${s}`) });
    const dir = mkdtempSync(join(tmpdir(), "skiff-pebble-"));
    // pebble's listener certificate (Debian's package ships none), for the gateway's address and loopback.
    const ca = await testCa("pebble listener CA");
    const listener = await testLeaf(ca, ["localhost"], { ips: [GATEWAY, "127.0.0.1"] });
    listenerCa = ca.cert;
    writeFileSync(join(dir, "listener.pem"), listener.cert);
    writeFileSync(join(dir, "listener.key"), listener.key);
    // 120 s certificates (240 s made this file the suite's longest): a renewal (due with a third of the life left, 40 s; the others pull it within a quarter of the 10 s grace) within the test. httpPort: where its VA asks, the
    // machines' HTTP port. tlsPort is for TLS-ALPN-01, which is not used.
    writeFileSync(join(dir, "pebble.json"), JSON.stringify({ pebble: { listenAddress: `${GATEWAY}:${HTTPS}`, managementListenAddress: `127.0.0.1:${HTTPS}`, certificate: join(dir, "listener.pem"), privateKey: join(dir, "listener.key"), httpPort: HTTP, tlsPort: HTTPS, ocspResponderURL: "", externalAccountBindingRequired: false, certificateValidityPeriod: 120 } }));
    run("/usr/bin/pebble-challtestsrv", ["-dns01", DNS, "-http01", "", "-https01", "", "-tlsalpn01", "", "-management", DNS_MGMT.replace("http://", ""), "-defaultIPv4", "", "-defaultIPv6", ""], dir);
    // Never PEBBLE_VA_ALWAYS_VALID: pebble really fetches every answer.
    run("/usr/bin/pebble", ["-config", join(dir, "pebble.json"), "-dnsserver", DNS, "-strict=false"], dir, { PEBBLE_VA_NOSLEEP: "1", PEBBLE_WFE_NONCEREJECT: "0", PEBBLE_AUTHZREUSE: "0" });
    await waitFor("pebble-challtestsrv", () => pointDns(bed.machines[2]!.address));
    root = await waitFor("pebble's root", async () => {
      const r = await get({ host: "127.0.0.1", port: HTTPS, path: "/roots/0", ca: listenerCa });
      if (r.status !== 200) throw new Error(`status ${r.status}`);
      return r.body;
    });
    assert.match(root, /BEGIN CERTIFICATE/);

    p = makeProject();
    writeFileSync(join(p.dir, "pebble-listener-ca.pem"), listenerCa);
    const machines = bed.machines.map((m) => `  ${m.name}: { host: 127.0.0.1, port: ${m.sshPort}, private_address: ${m.address}, http_port: ${HTTP}, https_port: ${HTTPS}, ssh: { identity_file: ${bed.identityFile} } }`).join("\n");
    writeFileSync(
      join(p.dir, "skiff.yml"),
      `project: tlsauto
machines:
${machines}
acme: { directory: "${DIRECTORY}", ca: pebble-listener-ca.pem, email: ops@skiff.test }
apps:
  web:
    run: node server.js
    artifact: ${HELLO_NODE}
    instances: 3
    env: { VERSION: a1 }
    routes: [{ host: ${HOST}, tls: auto }]
    health: { interval: 200ms, deadline: 5s }
    deploy: { drain_timeout: 2s, stop_timeout: 2s, probation: 1s }
`,
    );
    ok(await p.skiff(["machines", "trust", "--yes"]), "trust");
    ok(await p.skiff(["setup"]), "setup");
    await p.skiff(["remove", "web", "--yes"]);
  });

  after(() => {
    for (const c of procs) c.kill("SIGTERM");
  });

  it("plan shows the certificate to issue; the deploy orders it on m1 while pebble validates on m3, the others take it over the mesh; every machine serves it", async () => {
    const plan = await p.skiff(["plan"]);
    // 2: there are changes, the certificate to issue among them.
    assert.equal(plan.code, 2, plan.stdout + plan.stderr);
    assert.match(plan.stdout, /; 1 a certificate to issue\)/);
    assert.match(plan.stdout, new RegExp(`certificate for ${HOST.replace(/\./g, "\\.")} to issue over ACME \\(${GATEWAY.replace(/\./g, "\\.")}:${HTTPS}; ACME account key to make: secrets/default\\.acme-account\\.key\\.age\\)`), plan.stdout + plan.stderr);
    const names = bed.machines.map((m) => m.name).sort();
    const d = await p.skiff(["deploy"]);
    ok(d, "deploy");
    const out = d.stdout + d.stderr;
    assert.doesNotMatch(out, /PRIVATE KEY/);
    // Rank 0 (the first machine by name) ordered; pebble's DNS pointed only at the third, which answered.
    assert.match(out, new RegExp(`${names[0]}.*certificate for ${HOST.replace(/\./g, "\\.")}: issued`));
    for (const m of names.slice(1)) assert.match(out, new RegExp(`${m}.*certificate for ${HOST.replace(/\./g, "\\.")}: taken from ${names[0]} over the mesh`), out);
    assert.notEqual(bed.machines[2]!.name, names[0], "the machine pebble validated on is not the one that ordered");
    const serials = new Set<string>();
    for (const m of bed.machines) {
      const h = await handshake(m.address);
      assert.match(h.issuer, /Pebble Intermediate CA/);
      serials.add(h.serial);
      const r = await get({ host: m.address, port: HTTPS, path: "/version", ca: root, servername: HOST });
      assert.equal(r.status, 200);
      assert.equal(r.body, "a1\n");
    }
    assert.equal(serials.size, 1, "one certificate, on every machine");
    // skiff status: what each machine serves (as its handshake shows), that it is auto, and who ordered it.
    const served = await handshake(bed.machines[0]!.address);
    const st = await status();
    for (const m of bed.machines) {
      const c = st.find((x) => x.machine === m.name)?.tls?.find((t) => t.hosts.includes(HOST));
      assert.ok(c, `${m.name} reports the certificate: ${JSON.stringify(st)}`);
      assert.deepEqual([c.kind, c.cert?.serial, c.cert?.notAfter, c.orderedBy, c.auto?.from], ["auto", served.serial, new Date(served.validTo).toISOString(), names[0], names[0]], `${m.name}: served as ordered by ${names[0]} (it, or the copy it pulled from it)`);
      // pebble's certificates last 120 s: always within the 14 days that status warns about.
      assert.deepEqual(c.warnings.map((w) => w.replace(/\d+ min/, "N min")), [`expires in N min (${new Date(served.validTo).toISOString().slice(0, 10)})`]);
      assert.match(c.cert!.issuer, /^Pebble Intermediate CA/);
      assert.ok(c.auto?.dueAt && Date.parse(c.auto.dueAt) < Date.parse(served.validTo), "renewal due before the end");
    }
    const again = await p.skiff(["plan"]);
    assert.equal(again.code, 0, `no changes left after the deploy: ${again.stdout}${again.stderr}`);
    assert.match(again.stdout, new RegExp(`certificate for ${HOST.replace(/\./g, "\\.")} over ACME \\([^)]*\\): served by ${names.join(", ")}`), again.stdout);
    assert.doesNotMatch(again.stdout, /to issue/);
  });

  it("the agents renew it before it expires, with no command run, under load: 0 failed requests, every machine moves to the new certificate", async () => {
    const first = await handshake(bed.machines[0]!.address);
    const expires = Date.parse(first.validTo);
    // The next order is validated on m2 this time: still not the rank-0 machine.
    await pointDns(bed.machines[1]!.address);
    const urls = bed.machines.map((m) => `https://${m.address}:${HTTPS}/version`);
    const seen = new Map<string, Set<string>>(bed.machines.map((m) => [m.address, new Set<string>()]));
    const load = startLoad({
      urls,
      // Each request is a new TLS connection (so each sees the certificate of the moment): 6 keep this 2-core host
      // busy without starving the agents' own pulls.
      concurrency: 6,
      maxMs: 300_000,
      alsoAllow: (h) => bed.machines.some((m) => m.address === h),
      get: async (url) => {
        const u = new URL(url);
        const r = await get({ host: u.hostname, port: Number(u.port), path: u.pathname, ca: root, servername: HOST });
        seen.get(u.hostname)!.add(r.serial);
        return { status: r.status, body: r.body, version: r.body.trim() };
      },
    });
    // Until every machine serves a certificate other than the first (or the first one's end, plus a margin).
    const renewed = await waitFor(
      "a renewed certificate on every machine",
      async () => {
        const now = await Promise.all(bed.machines.map((m) => handshake(m.address)));
        if (now.some((h) => h.serial === first.serial)) throw new Error(`still ${first.serial} on some machine (expires ${first.validTo})`);
        return now;
      },
      Math.max(30_000, expires - Date.now() + 5_000),
    );
    await new Promise((r) => setTimeout(r, 2000));
    const res = await load.stop();
    const renewedAt = Date.now();
    console.error(`tls auto renewal under load: ${res.requests} requests, ${res.failures} failed; serials per machine ${JSON.stringify(Object.fromEntries([...seen].map(([a, s]) => [a, [...s]])))}; renewed ${Math.round((expires - renewedAt) / 1000)} s or more before the first expired`);
    // What the agents did (who pulled, who ordered), for the record and for a failure.
    for (const m of bed.machines) console.error(`--- ${m.name}:\n${await faults.exec(m, "grep 'tls auto' /var/log/skiff/agent.log | tail -n 6").catch((e: Error) => e.message)}`);
    assert.deepEqual(res.samples.slice(0, 5), []);
    assert.equal(res.failures, 0);
    assert.ok(res.requests > 100, `the load ran (${res.requests} requests)`);
    assert.equal(new Set(renewed.map((h) => h.serial)).size, 1, "every machine serves the same renewed certificate");
    assert.ok(Date.parse(renewed[0]!.validTo) > expires, "the new one lasts longer");
    assert.ok(renewedAt < expires, "renewed before the first certificate expired");
    for (const [addr, s] of seen) assert.ok(s.has(first.serial) && s.size >= 2, `${addr} served the old and the new certificate under load`);
  });

  it("a renewal that fails shows in skiff status: the CA cannot reach the host (its DNS points nowhere), the error and since when, on the machine that ordered", async () => {
    const names = bed.machines.map((m) => m.name).sort();
    // pebble now dials 127.0.0.1:8110 on the host for the challenge: nothing listens there, a real validation failure.
    await pointDns("127.0.0.1");
    const due = Date.parse((await status()).find((m) => m.machine === names[0])!.tls!.find((t) => t.hosts.includes(HOST))!.auto!.dueAt!);
    const failed = await waitFor(
      `${names[0]}'s renewal to fail (due ${new Date(due).toISOString()})`,
      async () => {
        const c = (await status()).find((m) => m.machine === names[0])!.tls!.find((t) => t.hosts.includes(HOST))!;
        if (c.auto?.lastResult !== "failed") {
          // Each look is a CLI run over SSH to every machine: one every few seconds is plenty.
          await new Promise((r) => setTimeout(r, 3000));
          throw new Error(`last result ${c.auto?.lastResult}`);
        }
        return c;
      },
      Math.max(30_000, due - Date.now() + 60_000),
    );
    console.error(`failed renewal as status --json has it on ${names[0]}: ${JSON.stringify(failed.auto)}`);
    // pebble's own words: its validation of the answer could not connect where the DNS points.
    assert.match(failed.auto!.lastError!, new RegExp(`^ACME order for auto\\.skiff\\.test failed: Get "http://auto\\.skiff\\.test:${HTTP}/\\.well-known/acme-challenge/[\\w-]+": dial tcp 127\\.0\\.0\\.1:${HTTP}: connect: connection refused$`));
    assert.ok(failed.auto!.failingSince && failed.auto!.failingSince <= failed.auto!.lastAttemptAt!);
    assert.ok(failed.warnings.some((w) => w.startsWith("renewal failing since ")), JSON.stringify(failed.warnings));
    const text = await p.skiff(["status"]);
    ok(text, "status");
    console.error(text.stdout);
    assert.match(text.stdout, new RegExp(`\\nwarning: auto\\.skiff\\.test on [^:]*${names[0]}[^:]*: renewal failing since \\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2} UTC.*: ACME order for auto\\.skiff\\.test failed: `), text.stdout);
    assert.doesNotMatch(text.stdout + text.stderr, /PRIVATE KEY/);
  });
});
