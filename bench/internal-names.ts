// bench/internal-names: requests/s and latency through an app's internal name
// (http://users.internal/, the machine's HAProxy) next to calling its instance
// directly, in the same run, from a client on the machines themselves:
//   local   — on m1, which runs an instance: name vs the instance's own address and port
//   remote  — on m3, which runs none: the name goes through m3's HAProxy and the
//             mutual-TLS mesh to m1's and m2's HAProxy and their instances
// Both are compared with the direct call on m1: instances listen on addresses of
// their machine alone, so that is the only direct call there is.
// The client is a small Node keep-alive loop run with the machines' Node, so every
// figure pays for the same client.
// Figures, not assertions. ROUNDS (3) × SECONDS (4) per target, CONCURRENCY (8); KEEP=1 leaves the app deployed.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { faults, up } from "../testbed/bed.ts";
import { makeProject } from "../test/e2e/helpers.ts";

const ROUNDS = Number(process.env.ROUNDS ?? 3);
const SECONDS = Number(process.env.SECONDS ?? 4);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 8);
const HELLO_NODE = new URL("../examples/hello-node", import.meta.url).pathname;
const PORT = 8089;
const NODE = "/var/lib/skiff/node/bin/node";

/** The client, run on a machine: CONCURRENCY keep-alive loops for SECONDS; prints requests, errors and latencies. */
const CLIENT = `
const http = require("node:http");
const [url, seconds, conc] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
const agent = new http.Agent({ keepAlive: true, maxSockets: conc });
const lat = []; let errors = 0; const statuses = {}; const until = Date.now() + seconds * 1000;
const once = () => new Promise((resolve) => {
  const t0 = process.hrtime.bigint();
  http.get(url, { agent }, (res) => { res.resume(); res.on("end", () => { if (res.statusCode !== 200) { errors++; statuses[res.statusCode] = (statuses[res.statusCode] || 0) + 1; } else lat.push(Number(process.hrtime.bigint() - t0) / 1e6); resolve(); }); })
    .on("error", (e) => { errors++; statuses[e.code] = (statuses[e.code] || 0) + 1; resolve(); });
});
const loop = async () => { while (Date.now() < until) await once(); };
const t0 = Date.now();
Promise.all(Array.from({ length: conc }, loop)).then(() => {
  lat.sort((a, b) => a - b);
  const q = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? 0;
  console.log(JSON.stringify({ n: lat.length, errors, statuses, seconds: (Date.now() - t0) / 1000, p50: q(0.5), p99: q(0.99) }));
});
`;

const bed = await up({ count: 3, log: (s) => console.error(`bed: ${s}`) });
const [m1, , m3] = bed.machines as [typeof bed.machines[number], typeof bed.machines[number], typeof bed.machines[number]];
const p = makeProject();
const machines = bed.machines.map((m) => `  ${m.name}: { host: 127.0.0.1, port: ${m.sshPort}, private_address: ${m.address}, http_port: ${PORT}, labels: [${m === m3 ? "other" : "users"}], ssh: { identity_file: ${bed.identityFile} } }`).join("\n");
writeFileSync(join(p.dir, "skiff.yml"), `project: benchnames\nmachines:\n${machines}\napps:\n  users:\n    run: node server.js\n    artifact: ${HELLO_NODE}\n    instances: 2\n    labels: [users]\n    health: { path: /healthz, interval: 1s }\n`);
for (const args of [["machines", "trust", "--yes"], ["setup"], ["deploy"]]) {
  const r = await p.skiff(args);
  if (r.code !== 0) throw new Error(`skiff ${args.join(" ")}: ${r.stderr}`);
}
type Status = { machine: string; apps: { app: string; instances: { hostPort: number; bindAddress?: string }[] }[] }[];
const st = JSON.parse((await p.skiff(["--json", "status"])).stdout) as Status;
const inst = st.find((m) => m.machine === "m1")!.apps.find((a) => a.app === "users")!.instances[0]!;
const b64 = Buffer.from(CLIENT).toString("base64");
for (const m of [m1, m3]) await faults.exec(m, `echo ${b64} | base64 -d > /tmp/skiff-bench-client.js`);

// The instance listens on an address of its machine alone (loopback for a process).
const direct = `http://${inst.bindAddress ?? "127.0.0.1"}:${inst.hostPort}/`;
const targets = [
  { name: "local direct", m: m1, url: direct },
  { name: "local users.internal", m: m1, url: "http://users.internal/" },
  { name: "remote users.internal", m: m3, url: "http://users.internal/" },
];
type Run = { n: number; errors: number; statuses: Record<string, number>; seconds: number; p50: number; p99: number };
const runs = new Map<string, Run[]>(targets.map((t) => [t.name, []]));
for (let r = 0; r < ROUNDS; r++) {
  // Interleaved, so a slow moment of the host falls on every target alike.
  for (const t of targets) runs.get(t.name)!.push(JSON.parse(await faults.exec(t.m, `${NODE} /tmp/skiff-bench-client.js ${t.url} ${SECONDS} ${CONCURRENCY}`)) as Run);
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const rps = (name: string) => median(runs.get(name)!.map((x) => x.n / x.seconds));
const p50 = (name: string) => median(runs.get(name)!.map((x) => x.p50));
const p99 = (name: string) => median(runs.get(name)!.map((x) => x.p99));
console.log(`internal names vs direct, ${ROUNDS} rounds × ${SECONDS} s, ${CONCURRENCY} keep-alive clients on the machine (medians)`);
console.log("target                   req/s     p50 ms   p99 ms   errors   vs direct (req/s)");
for (const t of targets) {
  const base = "local direct";
  const errors = runs.get(t.name)!.reduce((a, x) => a + x.errors, 0);
  if (errors) console.error(`${t.name}: failed answers ${JSON.stringify(runs.get(t.name)!.map((x) => x.statuses))}`);
  console.log(`${t.name.padEnd(24)} ${rps(t.name).toFixed(0).padStart(6)}   ${p50(t.name).toFixed(2).padStart(6)}   ${p99(t.name).toFixed(2).padStart(6)}   ${String(errors).padStart(6)}   ${(rps(t.name) / rps(base)).toFixed(2)}`);
}
if (!process.env.KEEP) await p.skiff(["remove", "users", "--yes"]);
