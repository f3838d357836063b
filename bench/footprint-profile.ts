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
import { up } from "../testbed/bed.ts";
import { makeProject } from "../test/e2e/helpers.ts";
import { faults } from "../testbed/bed.ts";
import { configure, skiff } from "./lib-footprint.ts";
import { printTop, profileAgent, profileMs, stopProfiled, sumProfile } from "./lib-profile.ts";

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
const { pid, started } = await profileAgent(m);
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
const prof = await stopProfiled(m, pid);

console.log(`bench/footprint-profile — agent pid ${pid}, ${s.toFixed(0)} s idle after ${deployProfiled ? "its deploy and " : ""}${WARMUP_S} s warm-up (profiler on)`);
for (const k of Object.keys(c1)) console.log(`  ${k.padEnd(30)} ${((c1[k]! - c0[k]!) / s).toFixed(1)} /s`);
// The profile starts with the agent (within the 200 ms the pid is polled at).
const from = prof.startTime + (t0 - started) * 1000;
const sum = sumProfile(prof, from, from + IDLE_S * 1e6);
console.log(`  sampled CPU in the window: ${profileMs(sum.total)} (${((sum.total / 1e6 / IDLE_S) * 100).toFixed(2)} % of a core with the profiler)`);
printTop(sum, TOP);
