// bench/rollback-profile: where an agent's CPU goes in rollbacks. A fresh bed of
// MACHINES (default 3) runs the fleet bench's app (hello-node, one instance per
// machine); after two deploys the first machine's agent is restarted with V8's
// sampling profiler on (--cpu-prof), then ROLLBACKS rollbacks run back and forth
// between the two releases (the other is in its probation: no app boots). The
// agent's CPU ticks over the rollbacks and the functions that took the most of
// it (self and inclusive time) are printed. Figures for finding work, not a
// measure (the profiler costs CPU of its own). PROFILE_OUT=FILE keeps the profile.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { NODE_BIN } from "../src/contracts/paths.ts";
import { bedConfig, faults, up, type Bed } from "../testbed/bed.ts";
import { makeProject } from "../test/e2e/helpers.ts";

const MACHINES = Number(process.env.MACHINES ?? 3);
const ROLLBACKS = Number(process.env.ROLLBACKS ?? 6);
const TOP = Number(process.env.TOP ?? 30);
const HELLO_NODE = new URL("../examples/hello-node", import.meta.url).pathname;

const config = (bed: Bed, version: string) =>
  bedConfig(bed, {
    project: "benchfleet",
    extra: `apps:
  web:
    run: ${NODE_BIN} server.js
    user: root
    artifact: ${HELLO_NODE}
    instances: ${bed.machines.length}
    env: { VERSION: ${version} }
    routes: [{ path: / }]
    health: { interval: 200ms, deadline: 20s }
    deploy: { drain_timeout: 2s, stop_timeout: 5s }
`,
  });

const bed = await up({ count: MACHINES, fresh: true });
const m = bed.machines[0]!;
const p = makeProject(bed);
const skiff = async (args: string[]) => {
  const t0 = performance.now();
  const r = await p.skiff(args);
  if (r.code !== 0) throw new Error(`skiff ${args.join(" ")} failed (exit ${r.code}):\n${r.stderr.slice(-3000)}`);
  return performance.now() - t0;
};
writeFileSync(join(p.dir, "skiff.yml"), config(bed, "v1"));
await skiff(["machines", "trust", "--yes"]);
await skiff(["setup"]);
await skiff(["deploy"]);
writeFileSync(join(p.dir, "skiff.yml"), config(bed, "v2"));
await skiff(["deploy"]);

const pidNow = async () => (await faults.exec(m, "cat /run/skiff/agent.pid 2>/dev/null || true")).trim();
const old = await pidNow();
await faults.exec(m, `rm -rf /tmp/agent-prof; mkdir -p /tmp/agent-prof; cp /usr/local/bin/skiff-agent /tmp/skiff-agent.orig
sed -i 's|^NODE_FLAGS="|NODE_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/agent-prof |' /usr/local/bin/skiff-agent; kill ${old}`);
let pid = "";
for (let i = 0; i < 100 && (!pid || pid === old); i++) {
  await new Promise((r) => setTimeout(r, 200));
  pid = await pidNow();
}
const started = performance.now();
await faults.exec(m, "i=0; until /usr/local/bin/skiff-agent call ping >/dev/null 2>&1 || [ $i -ge 50 ]; do sleep 0.2; i=$((i+1)); done");
await new Promise((r) => setTimeout(r, 3000));
const ticks = async () => Number((await faults.exec(m, `awk '{print $14 + $15}' /proc/${pid}/stat`)).trim());
const k0 = await ticks();
const t0 = performance.now();
const times: number[] = [];
for (let i = 0; i < ROLLBACKS; i++) times.push(await skiff(["rollback", "--to", String(i % 2 === 0 ? 1 : 2)]));
const t1 = performance.now();
const k1 = await ticks();
await faults.exec(m, `cp /tmp/skiff-agent.orig /usr/local/bin/skiff-agent; kill -TERM ${pid}; sleep 1.5`);
const file = (await faults.exec(m, "ls /tmp/agent-prof/*.cpuprofile | head -1")).trim();
const text = await faults.exec(m, `cat ${file}`);
if (process.env.PROFILE_OUT) writeFileSync(process.env.PROFILE_OUT, text);

interface Profile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}
const prof = JSON.parse(text) as Profile;
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const label = (id: number) => {
  const f = byId.get(id)!.callFrame;
  return `${f.functionName || "(anonymous)"} ${f.url.split("/").pop()}:${f.lineNumber + 1}`;
};
const self = new Map<string, number>();
const incl = new Map<string, number>();
let t = prof.startTime;
let total = 0;
const from = prof.startTime + (t0 - started) * 1000;
const to = prof.startTime + (t1 - started) * 1000;
prof.samples.forEach((id, i) => {
  const dt = prof.timeDeltas[i + 1] ?? 0;
  t += prof.timeDeltas[i]!;
  if (t < from || t > to) return;
  const l = label(id);
  if (l.startsWith("(idle)")) return;
  total += dt;
  self.set(l, (self.get(l) ?? 0) + dt);
  const seen = new Set<string>();
  for (let n: number | undefined = id; n !== undefined; n = parent.get(n)) {
    const k = label(n);
    if (seen.has(k)) continue;
    seen.add(k);
    incl.set(k, (incl.get(k) ?? 0) + dt);
  }
});
const ms = (us: number) => `${(us / 1000).toFixed(0).padStart(6)} ms`;
console.log(`bench/rollback-profile — ${MACHINES} machines, ${ROLLBACKS} rollbacks (${times.map((x) => (x / 1000).toFixed(2)).join(", ")} s); agent of ${m.name}, pid ${pid}, profiler on`);
console.log(`  agent CPU over the rollbacks: ${((k1 - k0) * 10).toFixed(0)} ms by /proc (${(((k1 - k0) * 10) / ROLLBACKS).toFixed(0)} ms per rollback); sampled ${ms(total)}`);
console.log("  self time:");
for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, TOP)) console.log(`    ${ms(v)}  ${k}`);
console.log("  inclusive time:");
for (const [k, v] of [...incl].sort((a, b) => b[1] - a[1]).slice(0, TOP)) console.log(`    ${ms(v)}  ${k}`);
