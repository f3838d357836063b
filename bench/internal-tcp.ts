// bench/internal-tcp: a TCP app (examples/tcp-echo) through its internal name
// (echo.internal:7071, the machine's HAProxy in mode tcp) next to calling its
// instance directly, in the same run, from a client on the machines themselves:
//   local   — on m1, which runs an instance: name vs the instance's own address and port
//   remote  — on m3, which runs none (its HAProxy connects to m1's and m2's instances
//             over the private network) vs m1's instance at its private address
// Two shapes: "connect" opens a new connection per exchange (connect, one line, its
// echo, close: what a client without a pool pays); "pooled" keeps one connection per
// client and sends line after line (a database pool); "addr" rows call the name's
// address instead of the name (no lookup); "lookup" times resolving the name alone.
// Plain TCP between machines.
// Figures, not assertions. ROUNDS (3) × SECONDS (4) per target, CONCURRENCY (8); KEEP=1 leaves the app deployed.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { faults, up } from "../testbed/bed.ts";
import { makeProject } from "../test/e2e/helpers.ts";

const ROUNDS = Number(process.env.ROUNDS ?? 3);
const SECONDS = Number(process.env.SECONDS ?? 4);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 8);
const ECHO = new URL("../examples/tcp-echo", import.meta.url).pathname;
const TCP_PORT = 7071;
const NODE = "/var/lib/skiff/node/bin/node";

/** The client, run on a machine: CONCURRENCY loops for SECONDS; prints exchanges, errors and latencies. */
const CLIENT = `
const net = require("node:net");
const [host, port, shape, seconds, conc] = [process.argv[2], Number(process.argv[3]), process.argv[4], Number(process.argv[5]), Number(process.argv[6])];
const lat = []; let errors = 0; const codes = {}; const until = Date.now() + seconds * 1000;
const fail = (e) => { errors++; codes[e.code || e.message] = (codes[e.code || e.message] || 0) + 1; };
const exchange = (sock) => new Promise((resolve, reject) => {
  const t0 = process.hrtime.bigint();
  let buf = "";
  const onData = (b) => { buf += b; if (buf.includes("\\n")) { sock.off("data", onData); sock.off("error", reject); lat.push(Number(process.hrtime.bigint() - t0) / 1e6); resolve(); } };
  sock.on("data", onData).once("error", reject);
  sock.write("x\\n");
});
const open = () => new Promise((resolve, reject) => { const s = net.connect({ host, port }, () => resolve(s)).once("error", reject); s.setNoDelay(true); });
const connectLoop = async () => { while (Date.now() < until) { const t0 = process.hrtime.bigint(); try { const s = await open(); const before = lat.length; await exchange(s); lat[before] = Number(process.hrtime.bigint() - t0) / 1e6; s.destroy(); } catch (e) { fail(e); } } };
const lookupLoop = async () => { while (Date.now() < until) { const t0 = process.hrtime.bigint(); await new Promise((r) => require("node:dns").lookup(host, (e) => { if (e) fail(e); else lat.push(Number(process.hrtime.bigint() - t0) / 1e6); r(); })); } };
const pooledLoop = async () => { let s; while (Date.now() < until) { try { s ??= await open(); await exchange(s); } catch (e) { fail(e); s?.destroy(); s = undefined; } } s?.destroy(); };
const t0 = Date.now();
Promise.all(Array.from({ length: conc }, shape === "connect" ? connectLoop : shape === "lookup" ? lookupLoop : pooledLoop)).then(() => {
  lat.sort((a, b) => a - b);
  const q = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? 0;
  console.log(JSON.stringify({ n: lat.length, errors, codes, seconds: (Date.now() - t0) / 1000, p50: q(0.5), p99: q(0.99) }));
});
`;

const bed = await up({ count: 3, log: (s) => console.error(`bed: ${s}`) });
const [m1, , m3] = bed.machines as [typeof bed.machines[number], typeof bed.machines[number], typeof bed.machines[number]];
const p = makeProject();
const machines = bed.machines.map((m) => `  ${m.name}: { host: 127.0.0.1, port: ${m.sshPort}, private_address: ${m.address}, labels: [${m === m3 ? "other" : "echo"}], ssh: { identity_file: ${bed.identityFile} } }`).join("\n");
writeFileSync(join(p.dir, "skiff.yml"), `project: benchtcp\nmachines:\n${machines}\napps:\n  echo:\n    run: node server.js\n    artifact: ${ECHO}\n    protocol: tcp\n    internal_port: ${TCP_PORT}\n    instances: 2\n    labels: [echo]\n    health: { interval: 1s }\n`);
for (const args of [["machines", "trust", "--yes"], ["setup"], ["deploy"]]) {
  const r = await p.skiff(args);
  if (r.code !== 0) throw new Error(`skiff ${args.join(" ")}: ${r.stderr}`);
}
type Status = { machine: string; apps: { app: string; instances: { hostPort: number; bindAddress?: string }[] }[] }[];
const st = JSON.parse((await p.skiff(["--json", "status"])).stdout) as Status;
const inst = st.find((m) => m.machine === "m1")!.apps.find((a) => a.app === "echo")!.instances[0]!;
const b64 = Buffer.from(CLIENT).toString("base64");
for (const m of [m1, m3]) await faults.exec(m, `echo ${b64} | base64 -d > /tmp/skiff-bench-tcp-client.js`);

// The instance listens on the address its peers reach it at (the machine's private address).
const direct = `${inst.bindAddress && inst.bindAddress !== "0.0.0.0" ? inst.bindAddress : m1.address} ${inst.hostPort}`;
const name = `echo.internal ${TCP_PORT}`;
// "addr": the name's address (127.77.0.1) without the lookup, to tell the proxy's cost from the resolver's.
const addr = `127.77.0.1 ${TCP_PORT}`;
const targets = [
  ...(["connect", "pooled"] as const).flatMap((shape) => [
    { name: `${shape} local direct`, base: `${shape} local direct`, m: m1, to: direct, shape },
    { name: `${shape} local name`, base: `${shape} local direct`, m: m1, to: name, shape },
    { name: `${shape} local addr`, base: `${shape} local direct`, m: m1, to: addr, shape },
    { name: `${shape} remote direct`, base: `${shape} remote direct`, m: m3, to: direct, shape },
    { name: `${shape} remote name`, base: `${shape} remote direct`, m: m3, to: name, shape },
    { name: `${shape} remote addr`, base: `${shape} remote direct`, m: m3, to: addr, shape },
  ]),
  // dns.lookup of the name alone (the hosts file, through getaddrinfo), what every new connection by name pays first.
  { name: "lookup local name", base: "lookup local name", m: m1, to: name, shape: "lookup" as const },
];
type Run = { n: number; errors: number; codes: Record<string, number>; seconds: number; p50: number; p99: number };
const runs = new Map<string, Run[]>(targets.map((t) => [t.name, []]));
for (let r = 0; r < ROUNDS; r++) {
  // Interleaved, so a slow moment of the host falls on every target alike.
  for (const t of targets) runs.get(t.name)!.push(JSON.parse(await faults.exec(t.m, `${NODE} /tmp/skiff-bench-tcp-client.js ${t.to} ${t.shape} ${SECONDS} ${CONCURRENCY}`)) as Run);
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const rate = (n: string) => median(runs.get(n)!.map((x) => x.n / x.seconds));
const p50 = (n: string) => median(runs.get(n)!.map((x) => x.p50));
const p99 = (n: string) => median(runs.get(n)!.map((x) => x.p99));
console.log(`TCP internal names vs direct, ${ROUNDS} rounds × ${SECONDS} s, ${CONCURRENCY} clients on the machine (medians)`);
console.log("target                    exch/s    p50 ms   p99 ms   errors   vs direct");
for (const t of targets) {
  const errors = runs.get(t.name)!.reduce((a, x) => a + x.errors, 0);
  if (errors) console.error(`${t.name}: ${JSON.stringify(runs.get(t.name)!.map((x) => x.codes))}`);
  console.log(`${t.name.padEnd(24)} ${rate(t.name).toFixed(0).padStart(7)}   ${p50(t.name).toFixed(2).padStart(6)}   ${p99(t.name).toFixed(2).padStart(6)}   ${String(errors).padStart(6)}   ${(rate(t.name) / rate(t.base)).toFixed(2)}`);
}
if (!process.env.KEEP) await p.skiff(["remove", "echo", "--yes"]);
