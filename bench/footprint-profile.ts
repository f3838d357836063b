// bench/footprint-profile: where the idle agent's CPU goes. The set-up of
// bench/footprint (one fresh bed machine, two process apps, 4 instances), then
// the agent is restarted once with V8's sampling profiler on (--cpu-prof) and
// left idle; its read/write syscall counts (/proc/<pid>/io) and wakeups
// (context switches) over the idle window are printed with the functions that
// took the most CPU in it (self time, the profile's first WARMUP_S left out:
// a fresh health book probes every interval until an instance is stable).
// Figures for finding work, not a measure of the agent's cost (the profiler
// costs CPU of its own; bench/footprint measures that). DEPLOY_PROFILED=1:
// the agent is restarted with the profiler before the deploy, not after, so
// the window is that of an agent right after its deploy (what bench/footprint
// measures; WARMUP=0 for its window); PROFILE_OUT=FILE keeps the profile.
import { writeFileSync } from "node:fs";
import { up } from "../testbed/bed.ts";
import { makeProject } from "../test/e2e/helpers.ts";
import { faults } from "../testbed/bed.ts";
import { configure, skiff } from "./lib-footprint.ts";

const IDLE_S = Number(process.env.IDLE ?? 40);
const WARMUP_S = Number(process.env.WARMUP ?? 15);
const TOP = Number(process.env.TOP ?? 25);

const bed = await up({ count: 1, fresh: process.env.FRESH !== "0" });
const m = bed.machines[0]!;
const p = makeProject(bed);
configure(bed, p);
const deployProfiled = process.env.DEPLOY_PROFILED === "1";
for (const args of [["machines", "trust", "--yes"], ["setup"], ...(deployProfiled ? [] : [["deploy"]])]) await skiff(p, args);

// The wrapper's serve flags gain the profiler; the loop starts the agent again once the old one is killed.
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
if (deployProfiled) await skiff(p, ["deploy"]);
await new Promise((r) => setTimeout(r, WARMUP_S * 1000));
const counters = async () => {
  const out = await faults.exec(m, `grep -E '^(syscr|syscw)' /proc/${pid}/io; grep -E 'ctxt_switches' /proc/${pid}/status; awk '{print "ticks", $14 + $15}' /proc/${pid}/stat`);
  return Object.fromEntries(out.trim().split("\n").map((l) => { const [k, v] = l.split(/:?\s+/); return [k!, Number(v)]; }));
};
const c0 = await counters();
const t0 = performance.now();
await new Promise((r) => setTimeout(r, IDLE_S * 1000));
const c1 = await counters();
const s = (performance.now() - t0) / 1000;
// Back to the plain wrapper, then TERM: the agent exits (writing its profile) and the loop starts a plain one.
await faults.exec(m, `cp /tmp/skiff-agent.orig /usr/local/bin/skiff-agent; kill -TERM ${pid}; sleep 1.5`);
const file = (await faults.exec(m, "ls /tmp/agent-prof/*.cpuprofile | head -1")).trim();
const text = await faults.exec(m, `cat ${file}`);
if (process.env.PROFILE_OUT) writeFileSync(process.env.PROFILE_OUT, text);
const prof = JSON.parse(text) as Profile;

interface Profile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

console.log(`bench/footprint-profile — agent pid ${pid}, ${s.toFixed(0)} s idle after ${deployProfiled ? "its deploy and " : ""}${WARMUP_S} s warm-up (profiler on)`);
for (const k of Object.keys(c1)) console.log(`  ${k.padEnd(30)} ${((c1[k]! - c0[k]!) / s).toFixed(1)} /s`);
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const self = new Map<string, number>();
const incl = new Map<string, number>();
let t = prof.startTime;
let total = 0;
// The profile starts with the agent (within the 200 ms the pid is polled at).
const from = prof.startTime + (t0 - started) * 1000;
const to = from + IDLE_S * 1e6;
const label = (id: number) => {
  const f = byId.get(id)!.callFrame;
  return `${f.functionName || "(anonymous)"} ${f.url.split("/").pop()}:${f.lineNumber + 1}`;
};
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
console.log(`  sampled CPU in the window: ${ms(total)} (${((total / 1e6 / IDLE_S) * 100).toFixed(2)} % of a core with the profiler)`);
console.log("  self time:");
for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, TOP)) console.log(`    ${ms(v)}  ${k}`);
console.log("  inclusive time:");
for (const [k, v] of [...incl].sort((a, b) => b[1] - a[1]).slice(0, TOP)) console.log(`    ${ms(v)}  ${k}`);
