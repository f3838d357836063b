// bench/footprint: what the agent costs a machine. On one fresh bed machine,
// setup, then a deploy of two process apps (examples/hello-node), 4 instances
// in all; then the resident memory of every agent process (its supervisor
// included) right after the deploy and after IDLE seconds with nothing to do,
// and their CPU over that idle time (and over its second half alone: the
// health probes of a fresh deploy run at the interval until the instances are
// stable, see restart-policy.ts), next to HAProxy's own in the same run.
// Figures, not assertions. VmRSS counts the pages of the Node binary the
// process touched (RssFile), shared with any other process that runs the same
// binary (the hello-node instances do); PSS splits those among the sharers.
import { up } from "../testbed/bed.ts";
import { makeProject } from "../test/e2e/helpers.ts";
import { agentFacts, configure, isAgent, mb, probe, skiff, sum, type Proc, type Totals } from "./lib-footprint.ts";

const IDLE_S = Number(process.env.IDLE ?? 60);

const bed = await up({ count: 1, fresh: true });
const m = bed.machines[0]!;
const p = makeProject(bed);
configure(bed, p);
for (const args of [["machines", "trust", "--yes"], ["setup"], ["deploy"]]) await skiff(p, args);

// Asked before the idle window: two RPCs (a status of every instance) are work the idle figure must not count.
const facts = await agentFacts(m);
const t0 = performance.now();
const first = await probe(m);
await new Promise((r) => setTimeout(r, (IDLE_S * 1000) / 2 - (performance.now() - t0)));
const tMid = performance.now();
const mid = await probe(m);
await new Promise((r) => setTimeout(r, IDLE_S * 1000 - (performance.now() - t0)));
const last = await probe(m);
const seconds = (performance.now() - t0) / 1000;
const secondHalf = (performance.now() - tMid) / 1000;

const cell = (t: Totals) => `${mb(t.rssKb).padStart(8)} (${mb(t.anonKb)} anon, ${mb(t.fileKb)} file) PSS ${mb(t.pssKb)}`.padEnd(52);
const rows: [string, (x: Proc) => boolean][] = [
  ["supervisor", (x) => x.role === "supervisor"],
  ["agent", (x) => x.role === "agent"],
  ["agent total", isAgent],
  ["haproxy", (x) => x.role === "haproxy"],
];

console.log(`bench/footprint — 1 machine, 2 process apps (hello-node), ${facts.instances} instances running; agent ${facts.version} on Node ${facts.node}`);
for (const x of last.procs.filter((x) => x.role !== "haproxy")) console.log(`  ${x.role.padEnd(11)} pid ${x.pid}: ${x.args}`);
console.log(`  ${"".padEnd(12)}${"RSS right after the deploy".padEnd(52)} ${`RSS after ${Math.round(seconds)} s idle`.padEnd(52)} CPU over those ${Math.round(seconds)} s (the last ${Math.round(secondHalf)} s)`);
const cpu = (from: typeof first, s: number, pick: (x: Proc) => boolean) => (((sum(last.procs, pick).ticks - sum(from.procs, pick).ticks) / last.tck / s) * 100).toFixed(2);
for (const [name, pick] of rows) {
  console.log(`  ${name.padEnd(12)}${cell(sum(first.procs, pick))} ${cell(sum(last.procs, pick))} ${cpu(first, seconds, pick)} % of a core (${cpu(mid, secondHalf, pick)} %)`);
}
const other = last.procs.filter((x) => x.role === "agent-other");
if (other.length) console.log(`  also running: ${other.map((x) => `${x.pid} ${mb(x.rssKb)} ${x.args}`).join("; ")}`);
const ratio = sum(last.procs, isAgent).rssKb / sum(last.procs, (x) => x.role === "haproxy").rssKb;
console.log(`  agent total / haproxy RSS after idle: ${ratio.toFixed(2)}`);
