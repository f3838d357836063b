// TCP names on 3 bed machines: `echo` (examples/tcp-echo, protocol: tcp, process)
// runs on m1 and m2 only; `caller` (examples/tcp-caller, on all three) opens a
// NEW connection to echo.internal:7070 per request, sends a canary line and
// checks the echo. Under load through caller's public port on every machine
// (m3 runs no echo: its HAProxy sends the connections to m1's and m2's through
// peer slots to their mesh TCP frontends, over mutual TLS), a deploy of echo, its
// rollback, a move onto m3 and a scale change fail no call. A connection held open from m3 across a deploy is not reset by
// the switch. Its own public port 8099, project `tcpnames`.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { startLoad, type LoadResult } from "../../src/load/load.ts";
import { faults, up, type Bed } from "../../testbed/bed.ts";
import { makeProject, type Project, type Run } from "./helpers.ts";

const ECHO = new URL("../../examples/tcp-echo", import.meta.url).pathname;
const CALLER = new URL("../../examples/tcp-caller", import.meta.url).pathname;
const PORT = 8099;
const TCP_PORT = 7070;
const LABELS: Record<string, string[]> = { m1: ["echo"], m2: ["echo"], m3: ["edge"] };
const NODE = "/var/lib/skiff/node/bin/node";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let bed: Bed;
let p: Project;

function configure(o: { echo: string; everywhere?: boolean; port?: number }): void {
  const machines = bed.machines.map((m) => `  ${m.name}: { host: 127.0.0.1, port: ${m.sshPort}, private_address: ${m.address}, http_port: ${PORT}, labels: [${LABELS[m.name]!.join(", ")}], ssh: { identity_file: ${bed.identityFile} } }`).join("\n");
  const deploy = "    deploy: { drain_timeout: 5s, stop_timeout: 5s, probation: 3s }\n";
  writeFileSync(
    join(p.dir, "skiff.yml"),
    `project: tcpnames
machines:
${machines}
apps:
  echo:
    run: node server.js
    artifact: ${ECHO}
    protocol: tcp
    internal_port: ${o.port ?? TCP_PORT}
${o.everywhere ? "    instances: 3\n" : "    instances: 2\n    labels: [echo]\n"}    env: { VERSION: ${o.echo} }
    health: { interval: 200ms, deadline: 10s }
${deploy}  caller:
    run: node server.js
    artifact: ${CALLER}
    instances: 3
    env: { CALL_TCP: "echo.internal:${TCP_PORT}" }
    routes: [{ path: / }]
    health: { path: /healthz, interval: 200ms, deadline: 10s }
${deploy}`,
  );
}

const urls = () => bed.machines.map((m) => `http://${m.address}:${PORT}/`);
const onBed = (host: string) => bed.machines.some((m) => m.address === host);
const json = <T>(r: Run): T => JSON.parse(r.stdout) as T;
type Status = { machine: string; apps: { app: string; internalUrl: string; instances: { running: boolean; healthy: boolean; hostPort: number }[] }[] }[];
const ok = (r: Run, what: string) => assert.equal(r.code, 0, `${what}: ${r.stderr}`);
const noFailures = (l: LoadResult) => assert.equal(l.failures, 0, `${l.failures} of ${l.requests} failed: ${JSON.stringify(l.samples.slice(0, 5))}`);
/** What caller answers on each machine: the version of echo that echoed its canary. */
const versions = () => Promise.all(urls().map(async (u) => (await fetch(u)).headers.get("x-version")));

async function underLoad(args: string[]): Promise<{ run: Run; load: LoadResult }> {
  const load = startLoad({ urls: urls(), concurrency: 6, alsoAllow: onBed });
  await sleep(300);
  const run = await p.skiff(args);
  await sleep(800);
  return { run, load: await load.stop() };
}

type Hold = { ended: string; detail: string; startedAt: number; endedAt: number; connectedAt?: number; versions: Record<string, number>; sent: number; answered: number; lastAnswerAt: number | null };

describe("TCP names: caller reaches echo.internal:7070 on 3 machines", { timeout: 900_000 }, () => {
  before(async () => {
    bed = await up({ count: 3, log: (s) => console.error(`bed: ${s}`) });
    p = makeProject();
    configure({ echo: "echo-1" });
    for (const args of [["machines", "trust", "--yes"], ["setup"]]) ok(await p.skiff(args), args.join(" "));
    for (const app of ["caller", "echo"]) await p.skiff(["remove", app, "--yes"]); // the bed is shared: start from nothing
  });
  after(async () => {
    for (const app of ["caller", "echo"]) await p?.skiff(["remove", app, "--yes"]);
  });

  it("plan shows the new names; every machine names echo and serves it on 7070; caller reaches it from each (m3 through peers)", async () => {
    const plan = await p.skiff(["plan"]);
    assert.equal(plan.code, 2, plan.stderr);
    assert.match(plan.stdout, /^  \+ name echo\.internal:7070 \(tcp; also echo\.tcpnames\.internal:7070\)$/m, plan.stdout);
    assert.match(plan.stdout, /^  \+ name caller\.internal \(http; also caller\.tcpnames\.internal\)$/m, plan.stdout);
    ok(await p.skiff(["deploy", "echo"]), "deploy echo");
    ok(await p.skiff(["deploy", "caller"]), "deploy caller");
    const s = json<Status>(await p.skiff(["--json", "status"]));
    const count = (m: string, app: string) => s.find((x) => x.machine === m)?.apps.find((a) => a.app === app)?.instances.filter((i) => i.running && i.healthy).length ?? 0;
    assert.deepEqual(bed.machines.map((m) => count(m.name, "echo")), [1, 1, 0]);
    assert.deepEqual(bed.machines.map((m) => count(m.name, "caller")), [1, 1, 1]);
    assert.deepEqual([...new Set(s.flatMap((m) => m.apps.map((a) => `${a.app} ${a.internalUrl}`)))].sort(), ["caller http://caller.tcpnames.internal/", "echo tcp://echo.tcpnames.internal:7070"]);
    const text = (await p.skiff(["status"])).stdout;
    assert.match(text, /^echo\s+tcp:\/\/echo\.tcpnames\.internal:7070\s+tcp:\/\/echo\.internal:7070$/m, text);
    assert.deepEqual(await versions(), ["echo-1", "echo-1", "echo-1"]);
    const m3 = bed.machines[2]!;
    assert.match(await faults.exec(m3, "getent hosts echo.internal echo.tcpnames.internal"), /^127\.77\.0\.1\s+echo\.internal echo\.tcpnames\.internal\n127\.77\.0\.1\s+echo\.internal echo\.tcpnames\.internal$/);
    const cfg = await faults.exec(m3, "cat /var/lib/skiff/proxy/haproxy.cfg");
    const fe = cfg.split("\n\n").find((b) => b.startsWith(`frontend internal_tcp_${TCP_PORT}`));
    assert.ok(fe, cfg);
    assert.deepEqual(fe.split("\n").filter((l) => l.includes("bind ")).map((l) => l.trim()), [`bind 127.77.0.1:${TCP_PORT}`, `bind 172.17.0.1:${TCP_PORT}`]);
    // m3 runs no echo: its peers are m1's and m2's mesh TCP frontends, over mutual TLS, checked on their HTTP mesh
    // port (up only while they run an instance of echo).
    const peersBackend = cfg.split("\n\n").find((b) => b.startsWith("backend skiff_tcpnames_echo.peers")) ?? "";
    const peerLines = peersBackend.split("\n").filter((l) => /^\s+server [pq]\d+ /.test(l) && !l.includes("127.0.0.1:1 "));
    assert.deepEqual(peerLines.map((l) => l.trim().split(" ")[2]).sort(), [bed.machines[0]!, bed.machines[0]!, bed.machines[1]!, bed.machines[1]!].map((m) => `${m.address}:7444`), cfg);
    for (const l of peerLines) assert.match(l, /:7444 check port 7443 check-ssl ssl verify required ca-file \S+ crt \S+ sni str\(echo\.tcpnames\.internal\) check-sni echo\.tcpnames\.internal/);
    // echo's instances listen on loopback only: nothing of theirs is on the network.
    const listening = await faults.exec(bed.machines[0]!, `ss -ltnH | awk '{ print $4 }'`);
    const echoPorts = s.find((x) => x.machine === "m1")!.apps.find((a) => a.app === "echo")!.instances.map((i) => i.hostPort);
    for (const port of echoPorts) assert.deepEqual(listening.split("\n").filter((l) => l.endsWith(`:${port}`)), [`127.0.0.1:${port}`], listening);
    // The machine's own HAProxy finds nothing to warn about in the file it runs (TCP sections under their own defaults).
    const check = await faults.exec(m3, "haproxy -c -f /var/lib/skiff/proxy/haproxy.cfg 2>&1; echo rc=$?");
    assert.match(check, /rc=0$/, check);
    assert.doesNotMatch(check, /WARNING|ALERT/, check);
    // Containers call the name at the Docker bridge's gateway (their /etc/hosts says so): the frontend serves there too.
    const viaGateway = await faults.exec(m3, `${NODE} -e "const s = require('net').connect(${TCP_PORT}, '172.17.0.1', () => s.write('gw\\n')); s.on('data', (b) => { console.log(String(b).trim()); process.exit(0) }).on('error', (e) => { console.log(e.code); process.exit(0) })"`);
    assert.equal(viaGateway.trim(), "echo-1 gw");
    // Not on the machine's network address: only the internal addresses serve the name.
    const outside = await faults.exec(bed.machines[0]!, `${NODE} -e "require('net').connect(${TCP_PORT}, '${m3.address}').on('connect', () => { console.log('connected'); process.exit(0) }).on('error', (e) => { console.log(e.code); process.exit(0) })"`);
    assert.equal(outside.trim(), "ECONNREFUSED");
  });

  it("a deploy of echo and its rollback, under load through caller on every machine: 0 failed calls; a held connection is not reset", async () => {
    // Held connections: from m1 (its own HAProxy, its own echo instance) and from m3 (which runs none: its HAProxy
    // connects straight to m1's or m2's instance through a peer slot).
    const [m1, , m3] = bed.machines as [Bed["machines"][number], Bed["machines"][number], Bed["machines"][number]];
    const script = Buffer.from(readFileSync(join(ECHO, "hold.js"))).toString("base64");
    for (const m of [m1, m3]) await faults.exec(m, `printf %s '${script}' | base64 -d > /tmp/skiff-hold.js && rm -f /tmp/skiff-hold.out && (setsid ${NODE} /tmp/skiff-hold.js echo.internal ${TCP_PORT} 90 > /tmp/skiff-hold.out 2>&1 &)`);
    await sleep(1000);
    configure({ echo: "echo-2" });
    const t0 = Date.now();
    const d = await underLoad(["deploy", "echo"]);
    const deployedAt = Date.now();
    ok(d.run, "deploy echo v2");
    noFailures(d.load);
    assert.ok((d.load.versions["echo-1"] ?? 0) > 0 && (d.load.versions["echo-2"] ?? 0) > 0, JSON.stringify(d.load.versions));
    assert.deepEqual(await versions(), ["echo-2", "echo-2", "echo-2"]);
    // A held connection stays with the instance it was opened to (echo-1) until that instance stops (the app ends
    // it cleanly then, FIN): never reset by the switch. Wait for both to end.
    const holds = new Map<string, Hold>();
    for (let i = 0; i < 40 && holds.size < 2; i++) {
      await sleep(500);
      for (const m of [m1, m3]) {
        const out = (await faults.exec(m, "cat /tmp/skiff-hold.out")).trim();
        if (out) holds.set(m.name, JSON.parse(out) as Hold);
      }
    }
    for (const m of [m1, m3]) {
      const hold = holds.get(m.name);
      assert.ok(hold, `${m.name}: the held connection was still open 20 s after the deploy`);
      console.error(`held connection from ${m.name}: ${hold.ended} (${hold.detail}) ${((hold.endedAt - t0) / 1000).toFixed(1)} s after the deploy started, ${((hold.endedAt - deployedAt) / 1000).toFixed(1)} s after it returned; ${hold.answered} of ${hold.sent} lines answered, by ${JSON.stringify(hold.versions)}`);
      assert.equal(hold.ended, "closed", JSON.stringify(hold));
      assert.deepEqual(Object.keys(hold.versions), ["echo-1"]);
      // Every line answered, up to the end.
      assert.ok(hold.sent - hold.answered <= 1, JSON.stringify(hold));
    }
    // m1's own HAProxy counts the held session on the old instance's slot: the drain waits its whole drain_timeout
    // (5 s) for it, and the instance stops only after that.
    assert.ok(holds.get(m1.name)!.endedAt - t0 >= 5000, JSON.stringify(holds.get(m1.name)));

    const rb = await underLoad(["rollback", "echo"]);
    ok(rb.run, "rollback echo");
    noFailures(rb.load);
    assert.ok((rb.load.versions["echo-1"] ?? 0) > 0 && (rb.load.versions["echo-2"] ?? 0) > 0, JSON.stringify(rb.load.versions));
    assert.deepEqual(await versions(), ["echo-1", "echo-1", "echo-1"]);
    console.error(`deploy: ${d.load.requests} calls, ${JSON.stringify(d.load.versions)}; rollback: ${rb.load.requests} calls, ${JSON.stringify(rb.load.versions)}`);
  });

  it("a placement change (echo onto m3 too) and a scale change, under load: 0 failed calls; m3 then answers from its own", async () => {
    configure({ echo: "echo-1", everywhere: true });
    const d = await underLoad(["deploy", "echo"]);
    ok(d.run, "deploy echo on every machine");
    noFailures(d.load);
    const m3 = bed.machines[2]!;
    const cfg = await faults.exec(m3, "cat /var/lib/skiff/proxy/haproxy.cfg");
    // echo's own backend (the shared bed may hold other projects' TCP backends): a local slot, on loopback.
    const echoBackend = cfg.split("\n\n").find((b) => b.startsWith("backend skiff_tcpnames_echo\n")) ?? "";
    assert.match(echoBackend, /^  server s\d+ 127\.0\.0\.1:\d+ check$/m, `m3 has a local echo slot: ${echoBackend}`);
    const sc = await underLoad(["scale", "echo=5"]);
    ok(sc.run, "scale echo=5");
    noFailures(sc.load);
    const back = await underLoad(["rollback", "echo"]);
    ok(back.run, "rollback of the scale");
    noFailures(back.load);
    console.error(`placement: ${d.load.requests} calls; scale: ${sc.load.requests}; its rollback: ${back.load.requests}`);
  });

  it("remove: plan says the names go; they go on every machine, with the frontend", async () => {
    const dry = await p.skiff(["remove", "echo", "--dry-run"]);
    assert.match(dry.stdout, /^  - name echo\.internal:7070 \(tcp; also echo\.tcpnames\.internal:7070\)$/m, dry.stdout + dry.stderr);
    ok(await p.skiff(["remove", "echo", "--yes"]), "remove echo");
    for (const m of bed.machines) {
      const hosts = await faults.exec(m, "cat /etc/hosts");
      assert.doesNotMatch(hosts, /echo\.(tcpnames\.)?internal/, `${m.name}: ${hosts}`);
      assert.doesNotMatch(await faults.exec(m, "cat /var/lib/skiff/proxy/haproxy.cfg"), /internal_tcp_7070/, m.name);
    }
  });
});
