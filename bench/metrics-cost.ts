// bench/metrics-cost: what the metrics sampler costs the agent. One bed
// machine, two process apps (examples/hello-node, 4 instances), a paced load
// of RATE requests/s from this host; the agent restarted with the sampler off
// (SKIFF_METRICS_INTERVAL_MS=0) and on (every 10 s), each for an idle window
// and a loaded one of WINDOW seconds. Printed: the agent's CPU (% of one core)
// and RSS in each, next to the app's own (its instances' processes), and the
// sampler's own timing (skiff_metrics_sample_duration_seconds). Figures, not
// assertions.
import { up, faults, type BedMachine } from "../testbed/bed.ts";
import { makeProject } from "../test/e2e/helpers.ts";

process.env.HTTP_PORT ??= "8121";
const { configure, mb, probe, skiff, sum, isAgent } = await import("./lib-footprint.ts");

const WINDOW_S = Number(process.env.WINDOW ?? 60);
const RATE = Number(process.env.RATE ?? 200);

const bed = await up({ count: 1 });
const m = bed.machines[0]!;
const p = makeProject(bed);
configure(bed, p);
for (const args of [["machines", "trust", "--yes"], ["setup"], ["deploy"]]) await skiff(p, args);

/** The app's processes (node server.js of the hello-node instances): ticks and RSS from /proc. */
async function appProcs(mm: BedMachine): Promise<{ ticks: number; rssKb: number; n: number }> {
  const out = await faults.exec(mm, String.raw`for d in /proc/[0-9]*; do tr '\0' ' ' <$d/cmdline 2>/dev/null | grep -q 'server\.js' || continue; case "$(cat $d/comm)" in node) awk '{printf "%d ", $14+$15}' $d/stat; awk '/^VmRSS/{print $2}' $d/status;; esac; done`);
  const rows = out.trim().split("\n").filter(Boolean).map((l) => l.split(" ").map(Number));
  return { ticks: rows.reduce((n, r) => n + r[0]!, 0), rssKb: rows.reduce((n, r) => n + r[1]!, 0), n: rows.length };
}

function pacedLoad(url: string, perS: number) {
  let sent = 0;
  let failed = 0;
  const timer = setInterval(() => {
    for (let i = 0; i < perS / 100; i++) {
      sent++;
      fetch(url, { signal: AbortSignal.timeout(5000) }).then((r) => r.arrayBuffer().then(() => r.status !== 200 && failed++), () => failed++);
    }
  }, 10);
  return { stop: () => (clearInterval(timer), { sent, failed }) };
}

async function restartAgent(sampler: boolean): Promise<void> {
  await faults.exec(m, `${sampler ? "" : "SKIFF_METRICS_INTERVAL_MS=0 "}/etc/init.d/skiff-agent restart >/dev/null`);
  // The first seconds after a start (reconcile, the first sample, health probes settling) are not the steady state.
  await new Promise((r) => setTimeout(r, 15_000));
}

async function window(loaded: boolean) {
  const load = loaded ? pacedLoad(`http://${m.address}:${process.env.HTTP_PORT}/`, RATE) : undefined;
  const a0 = await probe(m);
  const p0 = await appProcs(m);
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, WINDOW_S * 1000));
  const a1 = await probe(m);
  const p1 = await appProcs(m);
  const s = (performance.now() - t0) / 1000;
  const sent = load?.stop();
  const agent = sum(a1.procs, (x) => x.role === "agent");
  return {
    agentCpu: ((sum(a1.procs, isAgent).ticks - sum(a0.procs, isAgent).ticks) / a1.tck / s) * 100,
    agentRss: agent.rssKb,
    agentAnon: agent.anonKb,
    appCpu: ((p1.ticks - p0.ticks) / a1.tck / s) * 100,
    appRss: p1.rssKb,
    appProcs: p1.n,
    sent,
  };
}

const results: { label: string; r: Awaited<ReturnType<typeof window>> }[] = [];
for (const sampler of [false, true]) {
  await restartAgent(sampler);
  for (const loaded of [false, true]) results.push({ label: `sampler ${sampler ? "on " : "off"}, ${loaded ? `load ${RATE}/s` : "idle"}`, r: await window(loaded) });
}
// The sampler's own timing, from its gauge over a few samples.
const durations: number[] = [];
for (let i = 0; i < 6; i++) {
  const r = await p.skiff(["metrics", "--machine", "m1"]);
  const v = /^skiff_metrics_sample_duration_seconds\{[^}]*\} (\S+)$/m.exec(r.stdout)?.[1];
  if (v) durations.push(Number(v) * 1000);
  await new Promise((r) => setTimeout(r, 10_000));
}
const series = (await p.skiff(["metrics", "--machine", "m1"])).stdout.split("\n").filter((l) => l && !l.startsWith("#")).length;
const ring = (await faults.exec(m, "du -k --apparent-size /var/lib/skiff/metrics/ring.bin; du -k /var/lib/skiff/metrics/ring.bin")).trim().split("\n").map((l) => Number(l.split(/\s/)[0]));

console.log(`bench/metrics-cost — 1 machine, 2 process apps (hello-node, 4 instances), ${WINDOW_S} s windows, load ${RATE} requests/s from the host`);
console.log(`  ${"".padEnd(26)}${"agent CPU".padEnd(14)}${"agent RSS (anon)".padEnd(22)}${"app CPU".padEnd(12)}app RSS (${results[0]!.r.appProcs} processes)`);
for (const { label, r } of results) {
  console.log(`  ${label.padEnd(26)}${`${r.agentCpu.toFixed(2)} %`.padEnd(14)}${`${mb(r.agentRss)} (${mb(r.agentAnon)})`.padEnd(22)}${`${r.appCpu.toFixed(1)} %`.padEnd(12)}${mb(r.appRss)}${r.sent ? `   [${r.sent.sent} sent, ${r.sent.failed} failed]` : ""}`);
}
const sorted = [...durations].sort((a, b) => a - b);
console.log(`  one sample: ${sorted.map((d) => d.toFixed(1)).join(", ")} ms (every 10 s: ${(((sorted[Math.floor(sorted.length / 2)] ?? 0) / 10_000) * 100).toFixed(3)} % of a core at the median, wall time); ${series} series exposed; ring ${(ring[0]! / 1024).toFixed(1)} MB fixed, ${(ring[1]! / 1024).toFixed(1)} MB on disk so far`);
await skiff(p, ["remove", "web", "api", "--yes"]);
