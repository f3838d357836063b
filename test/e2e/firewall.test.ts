// skiff's firewall on 3 bed machines, against a container on the bed network
// that is no project machine (skiff-bed-outsider: what an attacker on the LAN
// has). `web` (Docker, examples/hello), `proc` (process, examples/hello-node) and
// `echo` (process, examples/tcp-echo, protocol: tcp) run on m1 and m2; m3 serves
// web and echo through its peers. HTTP instances listen on 127.0.0.1 only (other
// machines come through the mTLS mesh on :7443), so nothing of theirs is exposed,
// firewall or not; a TCP app's instances listen on the private address, so they
// are what the firewall guards. With the firewall off on m1 the outsider has an
// echo exchange with m1's echo instance and, by routing Docker's gateway through
// m1, reaches its internal frontend (the paths are real); with it on, every echo
// instance port, HAProxy's mesh frontend on every machine and the gateway refuse
// it at once, the public port answers, and the project's machines still exchange
// lines with the echo instances and open the mesh port. A deploy
// that turns it on under load fails no request. The table survives an agent
// restart after the kernel lost it; `skiff plan` names the machines whose firewall a deploy changes; `skiff remove` takes it away; a table of
// someone else's stays untouched. Its own port 8100, project `fw`.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import { startLoad, type LoadResult } from "../../src/load/load.ts";
import { DOCKER, faults, NETWORK, up, type Bed, type BedMachine } from "../../testbed/bed.ts";
import { makeProject, type Project, type Run } from "./helpers.ts";

const HELLO = new URL("../../examples/hello", import.meta.url).pathname;
const HELLO_NODE = new URL("../../examples/hello-node", import.meta.url).pathname;
const ECHO = new URL("../../examples/tcp-echo", import.meta.url).pathname;
const TCP_PORT = 7071; // internal-tcp.test.ts has 7070
const APPS = ["web", "proc", "echo"];
const PORT = 8100;
const OUTSIDER = "skiff-bed-outsider";
const OUTSIDER_IP = "172.30.77.50";
const MESH = 7443;
const LABELS: Record<string, string[]> = { m1: ["a"], m2: ["a"], m3: ["b"] };
const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let bed: Bed;
let p: Project;

function configure(o: { version: string; m1Firewall?: boolean; m2Firewall?: boolean }): void {
  const machines = bed.machines
    .map((m) => `  ${m.name}: { host: 127.0.0.1, port: ${m.sshPort}, private_address: ${m.address}, http_port: ${PORT}, labels: [${LABELS[m.name]!.join(", ")}], ssh: { identity_file: ${bed.identityFile} }${(m.name === "m1" && o.m1Firewall === false) || (m.name === "m2" && o.m2Firewall === false) ? ", firewall: false" : ""} }`)
    .join("\n");
  const common = "    instances: 2\n    labels: [a]\n    health: { path: /healthz, interval: 200ms, deadline: 10s }\n    deploy: { drain_timeout: 3s, stop_timeout: 5s, probation: 2s }\n";
  writeFileSync(
    join(p.dir, "skiff.yml"),
    `project: fw
machines:
${machines}
apps:
  web:
    build: { context: ${HELLO}, args: { VERSION: ${o.version} } }
    port: 3000
    routes: [{ path: / }]
${common}  proc:
    run: node server.js
    artifact: ${HELLO_NODE}
    env: { VERSION: ${o.version} }
${common}  echo:
    run: node server.js
    artifact: ${ECHO}
    protocol: tcp
    internal_port: ${TCP_PORT}
    instances: 2
    labels: [a]
    env: { VERSION: ${o.version} }
    health: { interval: 200ms, deadline: 10s }
    deploy: { drain_timeout: 3s, stop_timeout: 5s, probation: 2s }
`,
  );
}

const ok = (r: Run, what: string) => assert.equal(r.code, 0, `${what}: ${r.stdout}\n${r.stderr}`);
const onBed = (host: string) => bed.machines.some((m) => m.address === host);
const m = (n: number) => bed.machines[n - 1]!;
const noFailures = (l: LoadResult) => assert.equal(l.failures, 0, `${l.failures} of ${l.requests} failed: ${JSON.stringify(l.samples.slice(0, 5))}`);

/** curl from the outsider: the HTTP status, or how the connection failed (curl's exit 7: refused, 28: timed out). */
async function fromOutsider(url: string, host?: string): Promise<string> {
  const args = ["exec", OUTSIDER, "curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--connect-timeout", "3", "--max-time", "5", ...(host ? ["-H", `Host: ${host}`] : []), url];
  const started = Date.now();
  try {
    return (await run(DOCKER, args)).stdout.trim();
  } catch (e) {
    const code = (e as { code?: number }).code;
    return code === 7 ? `refused in ${Date.now() - started < 2500 ? "<2.5s" : "slow"}` : code === 28 ? "timed out" : `curl exit ${code}`;
  }
}

/** A shell script (bash, on the bed image) that opens a TCP connection and, with `line`, sends it and prints the
 *  first line that comes back; without, prints "connected" once the connection is accepted. Refusal and silence
 *  show as bash's error or exit 124 (timeout). */
const tcpScript = (host: string, port: number, line?: string) =>
  `s=$(date +%s%N); timeout 4 bash -c 'exec 3<>/dev/tcp/${host}/${port} || exit 7; ${line ? `echo ${line} >&3; IFS= read -r l <&3 && echo "$l"` : "echo connected"}' 2>&1; echo "rc=$? ms=$(( ($(date +%s%N) - s) / 1000000 ))"`;
/** What became of a TCP exchange: "echo: LINE", "connected", "refused in <2.5s", "timed out", or the raw output. */
function tcpOutcome(out: string): string {
  const [, rc, ms] = /rc=(\d+) ms=(\d+)\s*$/.exec(out) ?? [];
  const body = out.replace(/rc=\d+ ms=\d+\s*$/, "").trim();
  if (rc === "0" && body === "connected") return "connected";
  if (rc === "0" && body) return `echo: ${body}`;
  if (/Connection refused/.test(body)) return `refused in ${Number(ms) < 2500 ? "<2.5s" : "slow"}`;
  if (rc === "124") return "timed out";
  return out.trim();
}
const tcpFromOutsider = async (host: string, port: number, line?: string) => tcpOutcome((await run(DOCKER, ["exec", OUTSIDER, "sh", "-c", tcpScript(host, port, line)])).stdout);
const tcpFrom = async (from: BedMachine, host: string, port: number, line?: string) => tcpOutcome(await faults.exec(from, tcpScript(host, port, line)));

type Status = { machine: string; apps: { app: string; instances: { bindAddress?: string; hostPort: number; running: boolean; healthy: boolean }[] }[] }[];
type Instance = { machine: string; app: string; addr: string; port: number };
async function instances(): Promise<Instance[]> {
  const s = JSON.parse((await p.skiff(["--json", "status"])).stdout) as Status;
  return s.flatMap((x) => x.apps.filter((a) => APPS.includes(a.app)).flatMap((a) => a.instances.map((i) => ({ machine: x.machine, app: a.app, addr: i.bindAddress ?? "(none)", port: i.hostPort }))));
}
const machineNamed = (name: string) => bed.machines.find((mm) => mm.name === name)!;

/** The instances as they should be: web and proc on 127.0.0.1 only (in status and in the machine's listening
 *  sockets: nothing of theirs is exposed), echo on its machine's private address. Returns echo's. */
async function checkedInstances(): Promise<Instance[]> {
  const all = await instances();
  assert.deepEqual(APPS.map((a) => all.filter((i) => i.app === a).map((i) => i.machine).sort()), [["m1", "m2"], ["m1", "m2"], ["m1", "m2"]], JSON.stringify(all));
  for (const i of all.filter((x) => x.app !== "echo")) {
    assert.equal(i.addr, "127.0.0.1", `${i.app} on ${i.machine} binds loopback`);
    const listening = (await faults.exec(machineNamed(i.machine), `ss -ltnH '( sport = :${i.port} )' | awk '{ print $4 }'`)).split("\n").filter(Boolean);
    assert.ok(listening.length > 0 && listening.every((l) => l === `127.0.0.1:${i.port}`), `${i.app} on ${i.machine} listens on ${JSON.stringify(listening)}`);
  }
  const echo = all.filter((x) => x.app === "echo");
  for (const i of echo) assert.equal(i.addr, machineNamed(i.machine).address, `echo on ${i.machine} binds the private address`);
  return echo;
}

const tables = (mm: BedMachine) => faults.exec(mm, "nft list tables");

describe("firewall: only the project's machines reach instance, mesh and internal ports", { timeout: 900_000 }, () => {
  before(async () => {
    // Fresh machines: other suites' projects on a reused bed keep their own firewall words (and the table) there,
    // and this suite shows what happens when its project is the only one and then none.
    bed = await up({ count: 3, fresh: true, log: (s) => console.error(`bed: ${s}`) });
    p = makeProject();
    configure({ version: "v1" });
    for (const args of [["machines", "trust", "--yes"]]) ok(await p.skiff(args), args.join(" "));
    for (const app of APPS) await p.skiff(["remove", app, "--yes"]); // the bed is shared: start from nothing
    await run(DOCKER, ["rm", "-f", OUTSIDER]).catch(() => {});
    await run(DOCKER, ["run", "-d", "--name", OUTSIDER, "--label", "skiff.testbed=1", "--network", NETWORK, "--ip", OUTSIDER_IP, "--cap-add", "NET_ADMIN", "--entrypoint", "sleep", bed.image, "1800"]);
  });
  after(async () => {
    for (const app of APPS) await p?.skiff(["remove", app, "--yes"]);
    await run(DOCKER, ["rm", "-f", OUTSIDER]).catch(() => {});
    // Whatever happened above, the shared bed goes back without tables of ours or the test's.
    for (const mm of bed?.machines ?? []) await faults.exec(mm, `nft delete table inet skiff 2>/dev/null; nft delete table inet other 2>/dev/null; true`).catch(() => {});
  });

  it("setup installs nftables and applies the table; a second setup changes nothing; machines check shows it", async () => {
    const s = await p.skiff(["setup"]);
    ok(s, "setup");
    for (const mm of bed.machines) assert.match(s.stdout + s.stderr, new RegExp(`${mm.name}.*firewall: allow 3 project machine\\(s\\) on instance and mesh ports`), s.stdout);
    const again = await p.skiff(["setup"]);
    ok(again, "setup again");
    for (const mm of bed.machines) assert.match(again.stdout, new RegExp(`^${mm.name}: ready, no changes$`, "m"));
    const check = await p.skiff(["machines", "check"]);
    for (const mm of bed.machines) assert.match(check.stdout, new RegExp(`^${mm.name}\\s+yes.*\\s+on \\(3 addr\\)$`, "m"), check.stdout);
    const list = await faults.exec(m(1), "nft list table inet skiff");
    assert.match(list, /elements = \{ 172\.30\.77\.11, 172\.30\.77\.12,\s+172\.30\.77\.13 \}/, list);
    // Someone else's table, to see it kept through everything below.
    await faults.exec(m(1), "nft add table inet other && nft add chain inet other keep '{ type filter hook input priority 10; policy accept; }'");
  });

  it("firewall: false on m1: the table goes there; the outsider has an echo exchange with m1's TCP instance (m2's refuses it) and, through a route, reaches its internal frontend; HTTP instances are on 127.0.0.1 only", async () => {
    configure({ version: "v1", m1Firewall: false });
    const plan = await p.skiff(["plan"]);
    assert.equal(plan.code, 2, plan.stderr);
    assert.match(plan.stdout, /^firewall on m1: off \(firewall: false\), remove skiff's table$/m, plan.stdout);
    assert.doesNotMatch(plan.stdout, /firewall on m[23]/);
    ok(await p.skiff(["deploy"]), "deploy with m1 off");
    assert.doesNotMatch(await tables(m(1)), /inet skiff/);
    assert.match(await tables(m(1)), /table inet other/);
    assert.match(await tables(m(2)), /table inet skiff/);
    const echo = await checkedInstances();
    for (const i of echo) assert.equal(await tcpFromOutsider(i.addr, i.port, "from-outsider"), i.machine === "m1" ? "echo: v1 from-outsider" : "refused in <2.5s", `echo on ${i.machine} from the outsider (firewall ${i.machine === "m1" ? "off" : "on"})`);
    // What a LAN host can do: send packets for Docker's gateway to m1; Linux answers on any interface.
    await run(DOCKER, ["exec", OUTSIDER, "ip", "route", "replace", "172.17.0.0/16", "via", m(1).address]);
    assert.equal(await fromOutsider("http://172.17.0.1/", "web.fw.internal"), "200", "the internal frontend through m1 without the firewall");
  });

  it("a deploy that turns it on, under load on every machine's public port: 0 failed requests", async () => {
    configure({ version: "v2" });
    assert.match((await p.skiff(["plan"])).stdout, /^firewall on m1: allow 3 project machine\(s\) on instance and mesh ports$/m);
    const load = startLoad({ urls: bed.machines.map((mm) => `http://${mm.address}:${PORT}/`), concurrency: 6, alsoAllow: onBed });
    await sleep(300);
    const d = await p.skiff(["deploy"]);
    await sleep(800);
    const l = await load.stop();
    ok(d, "deploy v2 with the firewall on");
    noFailures(l);
    assert.ok((l.versions["v1"] ?? 0) > 0 && (l.versions["v2"] ?? 0) > 0, JSON.stringify(l.versions));
    console.error(`deploy turning the firewall on m1 on: ${l.requests} requests, ${l.failures} failed, ${JSON.stringify(l.versions)}`);
    for (const mm of bed.machines) assert.match(await tables(mm), /table inet skiff/);
    assert.match(await tables(m(1)), /table inet other/);
  });

  it("the outsider is refused at once on every TCP instance port, every machine's mesh frontend and the gateway's internal frontend; HTTP instances stay on 127.0.0.1; the public port answers", async () => {
    const echo = await checkedInstances();
    for (const i of echo) assert.equal(await tcpFromOutsider(i.addr, i.port, "from-outsider"), "refused in <2.5s", `echo on ${i.machine} from the outsider`);
    for (const mm of bed.machines) {
      // HAProxy's mesh frontend listens there (so a refusal is the firewall's, not an empty port).
      assert.equal(await faults.exec(mm, `ss -ltnH '( sport = :${MESH} )' | awk '{ print $4 }' | sort -u`), `${mm.address}:${MESH}`, `mesh frontend on ${mm.name}`);
      assert.equal(await tcpFromOutsider(mm.address, MESH), "refused in <2.5s", `mesh port of ${mm.name} from the outsider`);
    }
    assert.equal(await fromOutsider("http://172.17.0.1/", "web.fw.internal"), "refused in <2.5s", "the internal frontend through m1");
    for (const mm of bed.machines) assert.equal(await fromOutsider(`http://${mm.address}:${PORT}/`), "200", `public port on ${mm.name}`);
    // SSH stays open to the world.
    assert.match(await faults.exec(m(1), "ss -ltnH '( sport = :22 )'"), /:22/);
    assert.equal(await fromOutsider(`http://${m(1).address}:22/`).then((r) => r.startsWith("refused")), false, "ssh is not refused");
  });

  // Linux answers for the gateway's address on any interface, and echo's internal frontend listens there too
  // (172.17.0.1:TCP_PORT, for containers): the table guards only the gateway's port 80 (firewall-rules.ts).
  it("the outsider is refused on echo's internal TCP frontend at Docker's gateway, routed through m1", async () => {
    await run(DOCKER, ["exec", OUTSIDER, "ip", "route", "replace", "172.17.0.0/16", "via", m(1).address]);
    assert.equal(await tcpFromOutsider("172.17.0.1", TCP_PORT, "via-gateway"), "refused in <2.5s");
  });

  it("the project's machines still reach every TCP instance and the mesh port: m3, which runs none, serves web (over the mesh) and echo.internal (direct) through its peers", async () => {
    for (const i of await checkedInstances()) assert.equal(await tcpFrom(m(3), i.addr, i.port, "from-m3"), "echo: v2 from-m3", `echo on ${i.machine} from m3`);
    for (const mm of [m(1), m(2)]) assert.equal(await tcpFrom(m(3), mm.address, MESH), "connected", `mesh port of ${mm.name} from m3`);
    assert.equal(await tcpFrom(m(3), "127.77.0.1", TCP_PORT, "name"), "echo: v2 name", "echo.internal from m3");
    assert.match(await faults.exec(m(3), `curl -sS --max-time 5 http://127.0.0.1:${PORT}/`), /^hello from v2 on /);
  });

  it("nft refusing on m2: the deploy stops before anything moves, naming the machine, nft's exit code and message, and a hint; the old table stays", async () => {
    const before = JSON.stringify((JSON.parse((await p.skiff(["--json", "status"])).stdout) as Status).map((x) => x.apps.map((a) => [a.app, (a as { active?: number }).active])));
    await faults.exec(m(2), "mv /usr/sbin/nft /usr/sbin/nft.real && printf '#!/bin/sh\\necho \"Error: simulated refusal\" >&2\\nexit 1\\n' > /usr/sbin/nft && chmod 755 /usr/sbin/nft");
    try {
      configure({ version: "v2", m2Firewall: false });
      const d = await p.skiff(["deploy"]);
      assert.equal(d.code, 1, d.stdout + d.stderr);
      assert.match(d.stderr, /m2: firewall \(firewall\.set\): nft -f failed \(exit 1\): Error: simulated refusal/, d.stderr);
      assert.match(d.stderr, /hint: install Debian's nftables on m2 \(`skiff setup m2` does\), or set `firewall: false` on m2/, d.stderr);
      assert.doesNotMatch(d.stderr, /\n\s+at /, "no stack trace");
      const after = JSON.stringify((JSON.parse((await p.skiff(["--json", "status"])).stdout) as Status).map((x) => x.apps.map((a) => [a.app, (a as { active?: number }).active])));
      assert.equal(after, before, "no release moved");
      assert.match(await faults.exec(m(2), "/usr/sbin/nft.real list tables"), /table inet skiff/);
      const check = await p.skiff(["machines", "check", "m2"]);
      assert.match(check.stdout, /^m2\s+yes.*\s+failed$/m, check.stdout);
      assert.match(check.stderr, /m2: firewall: nft -f failed \(exit 1\): Error: simulated refusal/);
    } finally {
      await faults.exec(m(2), "mv /usr/sbin/nft.real /usr/sbin/nft");
    }
    configure({ version: "v2" });
    ok(await p.skiff(["deploy"]), "deploy once nft works again");
    assert.match((await p.skiff(["machines", "check", "m2"])).stdout, /^m2\s+yes.*\s+on \(3 addr\)$/m);
  });

  it("the table comes back when the kernel lost it and the agent restarts (a reboot)", async () => {
    await faults.exec(m(1), "nft delete table inet skiff && kill $(cat /run/skiff/agent.pid)");
    let back = "";
    for (let i = 0; i < 60 && !/inet skiff/.test(back); i++) {
      await sleep(500);
      back = await tables(m(1));
    }
    assert.match(back, /table inet skiff/);
    assert.match(back, /table inet other/);
    const echo1 = (await checkedInstances()).find((i) => i.machine === "m1")!;
    assert.equal(await tcpFromOutsider(echo1.addr, echo1.port, "after-restart"), "refused in <2.5s");
  });

  it("skiff remove of the project's last apps takes the table away, and leaves the other table", async () => {
    ok(await p.skiff(["remove", ...APPS, "--yes"]), "remove");
    for (const mm of bed.machines) assert.doesNotMatch(await tables(mm), /inet skiff/, mm.name);
    assert.match(await tables(m(1)), /table inet other/);
    const check = await p.skiff(["--json", "machines", "check"]);
    assert.deepEqual((JSON.parse(check.stdout) as { facts?: { firewall?: { state: string } } }[]).map((r) => r.facts?.firewall?.state), ["none", "none", "none"]);
  });
});
