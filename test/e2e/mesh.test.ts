// Mutual TLS between machines (issue 12, part 3) on 3 bed machines: `web`
// (examples/hello-node, process) runs on m1 and m2; m3 runs none and serves it
// through its peers, which are now m1's and m2's mesh frontends (TLS, both sides
// with a certificate of the project's CA, issued by `skiff setup`). Under load
// through m3 only: a deploy and a `skiff certs rotate` fail no request. A capture
// on the bed's bridge during requests that carry a canary shows it on the public
// side (the control) and never on the mesh port; the mesh port refuses a plain
// client, a TLS client without a certificate and one with another CA's; a client
// with a project certificate gets in, and a request already forwarded once is
// refused (no second hop). A request through m3 is logged by m3 and by the
// machine it was handed to, and counted once in the request-duration histogram:
// by m3, where it entered. Its own port 8101, project `mesh`.
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { connect as netConnect } from "node:net";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { after, before, describe, it } from "node:test";
import { MeshCerts } from "../../src/agent/mesh-certs.ts";
import { startLoad, type LoadResult } from "../../src/load/load.ts";
import { createCa, issueMachineCert } from "../../src/secrets/ca.ts";
import { faults, NETWORK, up, type Bed } from "../../testbed/bed.ts";
import { bridgeOf, startCapture } from "./capture.ts";
import { makeProject, type Project, type Run } from "./helpers.ts";

const HELLO_NODE = new URL("../../examples/hello-node", import.meta.url).pathname;
const ECHO = new URL("../../examples/tcp-echo", import.meta.url).pathname;
/** echo's internal port (internal-tcp.test.ts has 7070, firewall.test.ts 7071). */
const TCP_PORT = 7072;
const MESH_TCP = 7444;
const NODE = "/var/lib/skiff/node/bin/node";
const PORT = 8101;
const MESH = 7443;
const LABELS: Record<string, string[]> = { m1: ["web"], m2: ["web"], m3: ["edge"] };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let bed: Bed;
let p: Project;
let identity: string;
let recipient: string;

// firewall: false: the refusals below must be HAProxy's (mutual TLS), and the test host calling the mesh port is no
// project machine, so the firewall would refuse it first (test/e2e/firewall.test.ts covers the firewall).
function configure(version: string): void {
  const machines = bed.machines.map((m) => `  ${m.name}: { host: 127.0.0.1, port: ${m.sshPort}, private_address: ${m.address}, http_port: ${PORT}, labels: [${LABELS[m.name]!.join(", ")}], firewall: false, ssh: { identity_file: ${bed.identityFile} } }`).join("\n");
  writeFileSync(
    join(p.dir, "skiff.yml"),
    `project: mesh
machines:
${machines}
secrets:
  recipients: [${recipient}]
apps:
  web:
    run: node server.js
    artifact: ${HELLO_NODE}
    instances: 2
    labels: [web]
    env: { VERSION: ${version} }
    routes: [{ path: / }]
    health: { path: /healthz, interval: 200ms, deadline: 10s }
    deploy: { drain_timeout: 5s, stop_timeout: 5s, probation: 3s }
  echo:
    run: node server.js
    artifact: ${ECHO}
    protocol: tcp
    internal_port: ${TCP_PORT}
    instances: 2
    labels: [web]
    env: { VERSION: ${version} }
    health: { interval: 200ms, deadline: 10s }
`,
  );
}

const m = (n: number) => bed.machines[n - 1]!;
const onBed = (host: string) => bed.machines.some((x) => x.address === host);
const ok = (r: Run, what: string) => assert.equal(r.code, 0, `${what}: ${r.stdout}\n${r.stderr}`);
const noFailures = (l: LoadResult) => assert.equal(l.failures, 0, `${l.failures} of ${l.requests} failed: ${JSON.stringify(l.samples.slice(0, 5))}`);
type CertsStatus = { ca?: { subject: string }; machines: { machine: string; cert?: { fingerprint: string; issuer: string; notAfter: string }; problem?: string }[]; warnings: string[] };
const certs = async () => JSON.parse((await p.skiff(["--json", "certs", "status"])).stdout) as CertsStatus;

async function underLoad(args: string[]): Promise<{ run: Run; load: LoadResult }> {
  // Through m3 alone: it runs no instance, so every request crosses to m1 or m2 over the mesh.
  const load = startLoad({ urls: [`http://${m(3).address}:${PORT}/`], concurrency: 6, alsoAllow: onBed });
  await sleep(500);
  const run = await p.skiff(args);
  await sleep(1000);
  return { run, load: await load.stop() };
}

/** web's request-duration histogram _count per machine (`skiff metrics`; a machine that counted none has no series). */
async function durationCounts(): Promise<Record<string, number>> {
  const r = await p.skiff(["metrics"]);
  ok(r, "skiff metrics");
  const out: Record<string, number> = { m1: 0, m2: 0, m3: 0 };
  for (const x of r.stdout.matchAll(/^skiff_app_http_request_duration_seconds_count\{app="web",machine="(m\d)",project="mesh"\} (\S+)$/gm)) out[x[1]!] = Number(x[2]);
  return out;
}

/** One HTTP/1.1 request over TLS to a machine's mesh port; what came back, or why it failed. */
function meshRequest(addr: string, o: { cert?: string; key?: string; ca: string; servername: string; headers?: string }): Promise<{ text: string; error?: string }> {
  return new Promise((resolve) => {
    let text = "";
    const s = tlsConnect({ host: addr, port: MESH, servername: o.servername, ca: o.ca, cert: o.cert, key: o.key, checkServerIdentity: () => undefined }, () => {
      s.write(`GET / HTTP/1.1\r\nHost: web\r\nConnection: close\r\n${o.headers ?? ""}\r\n`);
    });
    s.setTimeout(5000, () => s.destroy(new Error("timeout")));
    s.on("data", (b: Buffer) => (text += b));
    s.on("error", (e) => resolve({ text, error: e.message }));
    s.on("close", () => resolve({ text }));
  });
}

describe("mTLS between machines: web on m1 and m2, served through m3", { timeout: 900_000 }, () => {
  before(async () => {
    bed = await up({ count: 3, log: (s) => console.error(`bed: ${s}`) });
    p = makeProject();
    const age = await import("age-encryption");
    const id = await age.generateX25519Identity();
    recipient = await age.identityToRecipient(id);
    identity = join(p.dir, "age-key.txt");
    writeFileSync(identity, `${id}\n`, { mode: 0o600 });
    process.env.SKIFF_AGE_IDENTITY = identity;
    configure("v1");
    ok(await p.skiff(["machines", "trust", "--yes"]), "machines trust");
    // The bed is shared: start from nothing (before setup: removing a project's last app forgets its firewall entry,
    // which the next setup would put back, and "a second setup changes nothing" below means the mesh's part).
    await p.skiff(["remove", "web", "echo", "--yes"]);
    ok(await p.skiff(["setup"]), "setup");
  });
  after(async () => {
    await p?.skiff(["remove", "web", "echo", "--yes"]);
  });

  it("setup made the CA (key encrypted in the repo) and gave every machine a certificate; a second setup changes nothing", async () => {
    const caPem = readFileSync(join(p.dir, "secrets/default.mesh-ca.pem"), "utf8");
    assert.ok(new X509Certificate(caPem).ca);
    const key = readFileSync(join(p.dir, "secrets/default.mesh-ca.key.age"), "utf8");
    assert.match(key, /^-----BEGIN AGE ENCRYPTED FILE-----/);
    assert.doesNotMatch(key, /PRIVATE KEY/);
    const s = await certs();
    assert.deepEqual(s.warnings, []);
    for (const x of s.machines) assert.equal(x.cert?.issuer, new X509Certificate(caPem).subject, x.machine);
    const again = await p.skiff(["setup"]);
    ok(again, "setup again");
    assert.deepEqual(again.stdout.split("\n").filter((l) => /^m\d: /.test(l)).sort(), ["m1: ready, no changes", "m2: ready, no changes", "m3: ready, no changes"]);
    // The machine's key stays there: 0600, root's.
    assert.equal((await faults.exec(m(1), "stat -c %a /var/lib/skiff/proxy/mesh/mesh.pem")).trim(), "600");
  });

  it("m3 runs no web and serves it through m1's and m2's mesh frontends; instances listen on loopback only", async () => {
    ok(await p.skiff(["deploy", "web"]), "deploy web");
    const counted = await durationCounts();
    const seen = new Set<string>();
    for (let i = 0; i < 12; i++) seen.add((await (await fetch(`http://${m(3).address}:${PORT}/`)).text()).trim());
    assert.deepEqual([...seen].sort(), ["hello from v1 on m1", "hello from v1 on m2"]);
    // Each of the 12 is logged twice (m3's public frontend, then m1's or m2's mesh frontend) and counted once, by m3.
    await sleep(2000);
    const now = await durationCounts();
    assert.deepEqual(Object.fromEntries(Object.entries(now).map(([k, v]) => [k, v - counted[k]!])), { m1: 0, m2: 0, m3: 12 });
    const cfg = await faults.exec(m(3), "cat /var/lib/skiff/proxy/haproxy.cfg");
    const fe = cfg.split("\n\n").find((b) => b.startsWith("frontend mesh")) ?? "";
    assert.match(fe, new RegExp(`bind ${m(3).address.replace(/\./g, "\\.")}:${MESH} ssl crt-list \\S+ verify required`), cfg);
    // This app's backend (the shared bed may hold other projects' backends too).
    const backend = cfg.split("\n\n").find((b) => b.startsWith("backend skiff_mesh_web")) ?? "";
    const peers = backend.split("\n").filter((l) => /^\s+server [pq]\d+ /.test(l) && !l.includes("127.0.0.1:1 "));
    assert.deepEqual(peers.map((l) => l.trim().split(" ")[2]).sort(), [`${m(1).address}:${MESH}`, `${m(1).address}:${MESH}`, `${m(2).address}:${MESH}`, `${m(2).address}:${MESH}`], backend);
    for (const l of peers) assert.match(l, /:7443 check ssl verify required ca-file \S+ crt \S+ sni str\(web\.mesh\.internal\) check-sni web\.mesh\.internal/);
    // web's instances (the shared bed may run other projects' too): each listens on loopback, nowhere else.
    type St = { machine: string; apps: { app: string; instances: { hostPort: number; bindAddress?: string }[] }[] }[];
    const st = JSON.parse((await p.skiff(["--json", "status"])).stdout) as St;
    for (const n of [1, 2]) {
      const insts = st.find((x) => x.machine === `m${n}`)!.apps.find((a) => a.app === "web")!.instances;
      assert.equal(insts.length, 1);
      const listening = (await faults.exec(m(n), "ss -Hltn")).split("\n").map((l) => l.trim().split(/\s+/)[3] ?? "");
      const mine = listening.filter((a) => a.endsWith(`:${insts[0]!.hostPort}`));
      assert.deepEqual(mine, [`127.0.0.1:${insts[0]!.hostPort}`], `m${n}: ${listening.join(" ")}`);
    }
  });

  it("a deploy under load through m3: 0 failed requests", async () => {
    configure("v2");
    const d = await underLoad(["deploy", "web"]);
    ok(d.run, "deploy v2");
    noFailures(d.load);
    assert.ok((d.load.versions.v1 ?? 0) > 0 && (d.load.versions.v2 ?? 0) > 0, JSON.stringify(d.load.versions));
    console.error(`deploy through the mesh: ${d.load.requests} requests, ${JSON.stringify(d.load.versions)}`);
  });

  it("`skiff certs rotate` under load through m3: new keys and certificates everywhere, loaded live, 0 failed requests", async () => {
    const before = await certs();
    const pid = async (n: number) => (await faults.exec(m(n), "cat /run/skiff/haproxy.pid")).trim();
    const pids = await Promise.all([1, 2, 3].map(pid));
    const r = await underLoad(["certs", "rotate"]);
    ok(r.run, "certs rotate");
    noFailures(r.load);
    assert.ok(r.load.requests > 50, `${r.load.requests} requests`);
    const after = await certs();
    for (const x of after.machines) {
      const was = before.machines.find((y) => y.machine === x.machine)!;
      assert.notEqual(x.cert!.fingerprint, was.cert!.fingerprint, `${x.machine} has a new certificate`);
      assert.equal(x.problem, undefined);
    }
    assert.deepEqual(await Promise.all([1, 2, 3].map(pid)), pids, "no HAProxy reload: the same processes");
    // New connections use the new certificates: the peers are still UP after their next checks.
    await sleep(3000);
    assert.equal(await (await fetch(`http://${m(3).address}:${PORT}/`)).text().then((t) => /^hello from v2 on m[12]$/.test(t.trim())), true);
    console.error(`rotate: ${r.load.requests} requests, 0 failed`);
  });

  it("a capture on the bed's bridge: the canary crosses in plain on the public side (the control), never on the mesh ports (HTTP and TCP)", async () => {
    ok(await p.skiff(["deploy", "echo"]), "deploy echo");
    const canary = `canary-${Math.random().toString(36).slice(2)}`;
    const cap = await startCapture(bridgeOf(NETWORK), `tcp port ${MESH} or tcp port ${MESH_TCP} or tcp port ${PORT}`);
    for (let i = 0; i < 10; i++) {
      const r = await fetch(`http://${m(3).address}:${PORT}/${canary}?q=${canary}`, { method: "POST", body: `${canary} body ${i}` });
      await r.text();
    }
    // echo.internal from m3, which runs no echo: each connection crosses to m1 or m2 on the mesh's TCP port.
    const echoed: string[] = [];
    for (let i = 0; i < 6; i++) {
      echoed.push((await faults.exec(m(3), `${NODE} -e "const s = require('net').connect(${TCP_PORT}, '127.77.0.1', () => s.write('${canary} tcp ${i}\\n')); s.on('data', (b) => { console.log(String(b).trim()); process.exit(0) }).on('error', (e) => { console.log(e.code); process.exit(0) })"`)).trim());
    }
    assert.deepEqual(echoed, [0, 1, 2, 3, 4, 5].map((i) => `v2 ${canary} tcp ${i}`), "echo answered through the mesh");
    await sleep(500);
    const segs = await cap.stop();
    const mesh = segs.filter((s) => s.sport === MESH || s.dport === MESH);
    const pub = segs.filter((s) => s.sport === PORT || s.dport === PORT);
    const bytes = (list: typeof segs) => Buffer.concat(list.map((s) => s.payload));
    assert.ok(bytes(pub).includes(canary), "the control: the public request carries the canary in plain and the capture sees it");
    const meshBytes = bytes(mesh);
    assert.ok(meshBytes.length > 2000, `the mesh traffic between m3 and m1/m2 was captured (${meshBytes.length} bytes)`);
    assert.ok(mesh.some((s) => s.src === m(3).address && [m(1).address, m(2).address].includes(s.dst)), "m3 → m1/m2 on the mesh port");
    assert.equal(meshBytes.includes(canary), false, "the canary never crosses between machines in plain");
    assert.equal(meshBytes.includes("hello from"), false, "nor does the answer");
    const tcp = segs.filter((s) => s.sport === MESH_TCP || s.dport === MESH_TCP);
    assert.ok(tcp.some((s) => s.src === m(3).address && [m(1).address, m(2).address].includes(s.dst) && s.payload.length > 0), "m3 → m1/m2 on the mesh's TCP port");
    assert.equal(bytes(tcp).includes(canary), false, "the TCP canary never crosses between machines in plain");
  });

  it("the mesh port refuses a plain client, a TLS client without a certificate, and one with another CA's; a project certificate gets in, once", async () => {
    const addr = m(1).address;
    const ca = readFileSync(join(p.dir, "secrets/default.mesh-ca.pem"), "utf8");
    const plain = await new Promise<string>((resolve) => {
      let text = "";
      const s = netConnect({ host: addr, port: MESH }, () => s.write("GET / HTTP/1.1\r\nHost: web.mesh.internal\r\n\r\n"));
      s.setTimeout(5000, () => s.destroy());
      s.on("data", (b: Buffer) => (text += b));
      s.on("error", () => {});
      s.on("close", () => resolve(text));
    });
    assert.doesNotMatch(plain, /HTTP\/1\.1 200|hello from/, "plain HTTP is not answered");
    const noCert = await meshRequest(addr, { ca, servername: "web.mesh.internal" });
    assert.ok(noCert.error, `no certificate: refused (${JSON.stringify(noCert)})`);
    assert.doesNotMatch(noCert.text, /hello from/);
    // A client certificate from another CA (made here), for the right name.
    const keys = new MeshCerts(join(p.dir, "other-ca-client"));
    const otherCa = await createCa("mesh");
    const otherCert = await issueMachineCert(otherCa, { project: "mesh", machine: "intruder", publicKey: keys.newKey("mesh") });
    const otherKey = readFileSync(join(p.dir, "other-ca-client/mesh.key.new"), "utf8");
    const wrong = await meshRequest(addr, { ca, servername: "web.mesh.internal", cert: otherCert, key: otherKey });
    assert.ok(wrong.error, `another CA: refused (${JSON.stringify(wrong)})`);
    assert.doesNotMatch(wrong.text, /hello from/);
    // The control: a certificate of the project's CA (its key decrypted as `skiff certs rotate` does) is answered.
    const age = await import("age-encryption");
    const d = new age.Decrypter();
    d.addIdentity(readFileSync(identity, "utf8").trim());
    const caKey = await d.decrypt(age.armor.decode(readFileSync(join(p.dir, "secrets/default.mesh-ca.key.age"), "utf8")), "text");
    const good = new MeshCerts(join(p.dir, "good-client"));
    const goodCert = await issueMachineCert({ cert: ca, key: caKey }, { project: "mesh", machine: "tester", publicKey: good.newKey("mesh") });
    const goodKey = readFileSync(join(p.dir, "good-client/mesh.key.new"), "utf8");
    const yes = await meshRequest(addr, { ca, servername: "web.mesh.internal", cert: goodCert, key: goodKey });
    assert.match(yes.text, /^HTTP\/1\.1 200[^]*hello from v2 on m1/, JSON.stringify(yes));
    // No second hop: a request that another machine forwarded already is refused, not sent on.
    const hop = await meshRequest(addr, { ca, servername: "web.mesh.internal", cert: goodCert, key: goodKey, headers: "x-skiff-hop: 1\r\n" });
    assert.match(hop.text, /^HTTP\/1\.1 503[^]*already forwarded once/, JSON.stringify(hop));
    // Another project's name is not this project's backend.
    const elsewhere = await meshRequest(addr, { ca, servername: "web.other.internal", cert: goodCert, key: goodKey });
    assert.doesNotMatch(elsewhere.text, /hello from/, JSON.stringify(elsewhere));
    assert.ok(existsSync(identity));
  });
});
