// HTTPS on a public route with a certificate from the repo, on 3 bed machines
// (the Node example app as processes; HTTP on 8102, HTTPS on 8103): the plan's
// certificate line, the chain and name as Node's tls checks them against the
// test's CA, strict SNI, the 301 from HTTP (not for ACME's path), HSTS, and a
// certificate swap under load (a deploy with a new cert and key: set + commit
// through the Runtime API, no reload) with 0 failed requests; `skiff status`
// shows the certificate each machine serves, and warns of one ending in 10 days.
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { Agent, request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:tls";
import { before, describe, it } from "node:test";
import { up, type Bed } from "../../testbed/bed.ts";
import { testCa, testLeaf, type TestCa } from "../tls-fixture.ts";
import { makeProject, type Project, type Run } from "./helpers.ts";

const HELLO_NODE = new URL("../../examples/hello-node", import.meta.url).pathname;
const BIN = new URL("../../bin/skiff.js", import.meta.url).pathname;
const HTTP = 8102;
const HTTPS = 8103;
const HOST = "tls.skiff.test";

let bed: Bed;
let p: Project;
let keyFile: string;
let ca: TestCa;

function skiff(args: string[], stdin?: string): Promise<Run> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [BIN, ...args], { cwd: p.dir, env: { ...process.env, SKIFF_AGE_IDENTITY: keyFile, NO_COLOR: "1", SKIFF_SOCKET_DIR: p.socketDir }, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    c.stdout.on("data", (b) => (stdout += b));
    c.stderr.on("data", (b) => (stderr += b));
    c.on("close", (code) => resolve({ code, stdout, stderr }));
    c.stdin.end(stdin ?? "");
  });
}
const ok = (r: Run, what: string) => assert.equal(r.code, 0, `${what}: ${r.stdout}\n${r.stderr}`);

function configure(recipient: string): void {
  const machines = bed.machines.map((m) => `  ${m.name}: { host: 127.0.0.1, port: ${m.sshPort}, private_address: ${m.address}, http_port: ${HTTP}, https_port: ${HTTPS}, ssh: { identity_file: ${bed.identityFile} } }`).join("\n");
  writeFileSync(
    join(p.dir, "skiff.yml"),
    `project: tls
machines:
${machines}
secrets: { recipients: [${recipient}] }
apps:
  web:
    run: node server.js
    artifact: ${HELLO_NODE}
    instances: 3
    env: { VERSION: t1 }
    routes: [{ host: ${HOST}, tls: { cert: cert.pem, key: TLS_KEY, hsts: 600 } }]
    health: { interval: 200ms, deadline: 5s }
    deploy: { drain_timeout: 2s, stop_timeout: 2s, probation: 1s }
`,
  );
}

/** The certificate a machine presents for a name, checked by Node against the test CA (rejectUnauthorized). */
function handshake(addr: string, servername: string): Promise<{ serial: string; protocol: string | false; validTo: string; issuer: string }> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: addr, port: HTTPS, servername, ca: ca.cert, ALPNProtocols: ["h2", "http/1.1"] }, () => {
      const c = s.getPeerX509Certificate()!;
      assert.ok(c.checkHost(servername), "the certificate names the host");
      resolve({ serial: c.serialNumber, protocol: s.alpnProtocol ?? false, validTo: c.validTo, issuer: c.issuer });
      s.end();
    });
    s.on("error", reject);
  });
}

/** One HTTPS GET; `agent`: a keep-alive agent, else a new connection. */
function get(addr: string, path: string, agent?: Agent): Promise<{ status: number; headers: Record<string, unknown>; body: string; serial: string }> {
  return new Promise((resolve, reject) => {
    const r = request({ host: addr, port: HTTPS, path, servername: HOST, headers: { host: HOST }, ca: ca.cert, agent: agent ?? false, timeout: 10_000 }, (res) => {
      let body = "";
      res.on("data", (b) => (body += b));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body, serial: (res.socket as import("node:tls").TLSSocket).getPeerX509Certificate?.()?.serialNumber ?? "" }));
    });
    r.on("timeout", () => r.destroy(new Error("timeout")));
    r.on("error", reject);
    r.end();
  });
}

describe("HTTPS on a public route, certificate from the repo, 3 machines", { timeout: 900_000 }, () => {
  before(async () => {
    bed = await up({ count: 3, log: (s) => console.error(`bed: ${s}`) });
    p = makeProject();
    keyFile = join(mkdtempSync(join(tmpdir(), "skiff-age-")), "key.txt");
    const kg = execFileSync(process.execPath, [BIN, "secrets", "keygen"], { env: { ...process.env, SKIFF_AGE_IDENTITY: keyFile }, encoding: "utf8" });
    configure(/public key: (age1\w+)/.exec(kg)![1]!);
    ca = await testCa();
    const leaf = await testLeaf(ca, [HOST]);
    writeFileSync(join(p.dir, "cert.pem"), leaf.cert);
    ok(await skiff(["secrets", "set", "TLS_KEY"], leaf.key), "secrets set");
    ok(await skiff(["machines", "trust", "--yes"]), "trust");
    ok(await skiff(["setup"]), "setup");
    await skiff(["remove", "web", "--yes"]);
  });

  it("plan shows the certificate; deploy serves it on every machine: chain and name verified, h2 offered, unknown names refused", async () => {
    const plan = await skiff(["plan"]);
    assert.match(plan.stdout, new RegExp(`certificate for ${HOST.replace(/\./g, "\\.")} from the repo \\(cert\\.pem; expires \\d{4}-\\d{2}-\\d{2}, in 89 days\\)`), plan.stdout + plan.stderr);
    assert.doesNotMatch(plan.stdout + plan.stderr, /PRIVATE KEY/);
    const d = await skiff(["deploy"]);
    ok(d, "deploy");
    assert.doesNotMatch(d.stdout + d.stderr, /PRIVATE KEY/);
    const serial = new (await import("node:crypto")).X509Certificate(readFileSync(join(p.dir, "cert.pem"))).serialNumber;
    for (const m of bed.machines) {
      const h = await handshake(m.address, HOST);
      assert.equal(h.serial, serial, `${m.name} serves the repo's certificate`);
      assert.equal(h.protocol, "h2");
      await assert.rejects(handshake(m.address, "other.skiff.test"), /unrecognized name|alert number 112|ECONNRESET/i, `${m.name}: strict SNI`);
      const r = await get(m.address, "/version");
      assert.equal(r.status, 200);
      assert.equal(r.body, "t1\n");
      assert.equal(r.headers["strict-transport-security"], "max-age=600");
    }
  });

  it("plain HTTP for the host gets a 301 to HTTPS (path and query kept, the https port named); ACME's path is not redirected", async () => {
    // node:http, not fetch: fetch does not send a Host header of our choosing.
    const plain = (addr: string, path: string) =>
      new Promise<{ status: number; location?: string }>((resolve, reject) => {
        const q = httpRequest({ host: addr, port: HTTP, path, headers: { host: HOST }, agent: false }, (res) => {
          res.resume();
          res.on("end", () => resolve({ status: res.statusCode!, location: res.headers.location }));
        });
        q.on("error", reject);
        q.end();
      });
    for (const m of bed.machines) {
      const r = await plain(m.address, "/version?x=1");
      assert.equal(r.status, 301);
      assert.equal(r.location, `https://${HOST}:${HTTPS}/version?x=1`);
      const acme = await plain(m.address, "/.well-known/acme-challenge/abc");
      assert.notEqual(acme.status, 301, "the challenge path reaches the app, not a redirect");
      assert.equal(acme.location, undefined);
    }
  });

  it("a new certificate and key, deployed under load: swapped on every machine with 0 failed requests; keep-alive connections stay open", async () => {
    const old = new (await import("node:crypto")).X509Certificate(readFileSync(join(p.dir, "cert.pem"))).serialNumber;
    let stop = false;
    const seen = new Set<string>();
    const stats = { fresh: 0, freshFailed: 0, kept: 0, keptFailed: 0, errors: [] as string[] };
    const fresh = async (addr: string) => {
      while (!stop) {
        try {
          const r = await get(addr, "/version");
          if (r.status !== 200) throw new Error(`status ${r.status}`);
          seen.add(r.serial);
          stats.fresh++;
        } catch (e) {
          stats.freshFailed++;
          stats.errors.push(`${addr}: ${(e as Error).message}`);
        }
      }
    };
    const sockets = new Set<unknown>();
    const kept = async (addr: string) => {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      while (!stop) {
        try {
          const r = await new Promise<number>((resolve, reject) => {
            const q = request({ host: addr, port: HTTPS, path: "/version", servername: HOST, headers: { host: HOST }, ca: ca.cert, agent, timeout: 10_000 }, (res) => {
              sockets.add(res.socket);
              res.resume();
              res.on("end", () => resolve(res.statusCode!));
            });
            q.on("error", reject);
            q.end();
          });
          if (r !== 200) throw new Error(`status ${r}`);
          stats.kept++;
        } catch (e) {
          stats.keptFailed++;
          stats.errors.push(`${addr} keep-alive: ${(e as Error).message}`);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
      agent.destroy();
    };
    const loops = bed.machines.flatMap((m) => [fresh(m.address), fresh(m.address), kept(m.address)]);
    await new Promise((r) => setTimeout(r, 1500));
    const leaf = await testLeaf(ca, [HOST]);
    writeFileSync(join(p.dir, "cert.pem"), leaf.cert);
    ok(await skiff(["secrets", "set", "TLS_KEY"], leaf.key), "secrets set");
    const t0 = Date.now();
    const d = await skiff(["deploy"]);
    ok(d, "deploy with the new certificate");
    const deployMs = Date.now() - t0;
    assert.match(d.stdout + d.stderr, /certificate for tls\.skiff\.test loaded/);
    assert.match(d.stdout + d.stderr, /release \d+ already serving/, "the release is unchanged: only the certificate moved");
    for (const m of bed.machines) assert.equal((await handshake(m.address, HOST)).serial, leaf.serial, `${m.name} serves the new certificate`);
    await new Promise((r) => setTimeout(r, 1500));
    stop = true;
    await Promise.all(loops);
    console.error(`tls swap under load: deploy ${deployMs} ms; new connections ${stats.fresh} ok, ${stats.freshFailed} failed; keep-alive requests ${stats.kept} ok, ${stats.keptFailed} failed over ${sockets.size} connection(s); serials seen ${[...seen].join(", ")}`);
    assert.deepEqual(stats.errors.slice(0, 5), []);
    assert.equal(stats.freshFailed + stats.keptFailed, 0);
    assert.ok(seen.has(old) && seen.has(leaf.serial), "both certificates were served during the run");
    assert.equal(sockets.size, bed.machines.length, "each keep-alive loop kept its one connection through the swap");
  });

  it("skiff status shows the certificate each machine serves: its end and serial as the handshake sees them, kind repo, no warning at 89 days; --json the same", async () => {
    const st = await skiff(["status", "--json"]);
    ok(st, "status --json");
    assert.doesNotMatch(st.stdout, /PRIVATE KEY/);
    const machines = JSON.parse(st.stdout) as { machine: string; tls?: { hosts: string[]; kind: string; cert?: { notAfter: string; serial: string; issuer: string }; warnings: string[]; expiresInDays?: number }[] }[];
    for (const m of bed.machines) {
      const served = await handshake(m.address, HOST);
      const certs = machines.find((x) => x.machine === m.name)?.tls;
      assert.equal(certs?.length, 1, `${m.name} reports one certificate: ${JSON.stringify(certs)}`);
      const c = certs![0]!;
      assert.deepEqual([c.hosts, c.kind, c.warnings], [[HOST], "repo", []]);
      assert.equal(c.cert?.serial, served.serial, `${m.name}: the serial it serves`);
      assert.equal(c.cert?.notAfter, new Date(served.validTo).toISOString(), `${m.name}: the end of what it serves`);
      assert.equal(`CN=${c.cert?.issuer}`, served.issuer, "the issuer's CN (the test CA has no O)");
      assert.equal(c.expiresInDays, 89);
    }
    const text = await skiff(["status"]);
    ok(text, "status");
    console.error(text.stdout);
    const names = bed.machines.map((m) => m.name).join(", ");
    assert.match(text.stdout, new RegExp(`\\nCERTIFICATE +EXPIRES +KIND +ISSUER +MACHINES\\n${HOST.replace(/\./g, "\\.")} +in 89 days \\(\\d{4}-\\d{2}-\\d{2}\\) +repo +skiff test CA \\w+ +${names}(\\n|$)`), text.stdout);
    assert.doesNotMatch(text.stdout, /warning:/);

    // A certificate that ends in 10 days, deployed: every machine serves it and status warns once, naming them all.
    const short = await testLeaf(ca, [HOST], { days: 10 });
    writeFileSync(join(p.dir, "cert.pem"), short.cert);
    ok(await skiff(["secrets", "set", "TLS_KEY"], short.key), "secrets set");
    ok(await skiff(["deploy"]), "deploy with a 10-day certificate");
    const soon = await skiff(["status"]);
    ok(soon, "status");
    console.error(soon.stdout);
    const end = new Date(new (await import("node:crypto")).X509Certificate(short.cert).validTo).toISOString().slice(0, 10);
    assert.match(soon.stdout, new RegExp(`\\nwarning: ${HOST.replace(/\./g, "\\.")} on ${names}: expires in 9 days \\(${end}\\)(\\n|$)`), soon.stdout);
    const json = JSON.parse((await skiff(["status", "--json"])).stdout) as { tls?: { cert?: { serial: string }; warnings: string[] }[] }[];
    for (const m of json) assert.deepEqual([m.tls?.[0]?.cert?.serial, m.tls?.[0]?.warnings], [short.serial, [`expires in 9 days (${end})`]]);
  });
});
