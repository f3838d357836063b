// bench/alerts-cost: what alerting costs the agents. Three bed machines, two
// process apps (examples/hello-node, 2 instances each, spread), idle. The same
// project deployed with `alerts: { enabled: false }` and with alerts on (every
// rule, one webhook that is never called: nothing fires), each watched for
// WINDOW seconds: each machine's agent CPU (% of one core) and RSS. Alerts on
// means a round every 10 s: each machine asks its two peers over the mesh, and
// the leader (m1) evaluates. Figures, not assertions.
import { up } from "../testbed/bed.ts";
import { makeProject } from "../test/e2e/helpers.ts";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

process.env.HTTP_PORT ??= "8122";
const { configure, mb, probe, skiff, sum, isAgent } = await import("./lib-footprint.ts");

const WINDOW_S = Number(process.env.WINDOW ?? 60);
const bed = await up({ count: 3 });
const p = makeProject(bed);
configure(bed, p);
const base = readFileSync(join(p.dir, "skiff.yml"), "utf8");
const withAlerts = (on: boolean) => writeFileSync(join(p.dir, "skiff.yml"), base + (on ? `alerts:\n  to: [{ webhook: "http://${bed.machines[2]!.address}:8113/never" }]\n` : "alerts: { enabled: false }\n"));

async function window() {
  const a0 = await Promise.all(bed.machines.map(probe));
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, WINDOW_S * 1000));
  const a1 = await Promise.all(bed.machines.map(probe));
  const s = (performance.now() - t0) / 1000;
  return bed.machines.map((m, i) => ({
    machine: m.name,
    cpu: ((sum(a1[i]!.procs, isAgent).ticks - sum(a0[i]!.procs, isAgent).ticks) / a1[i]!.tck / s) * 100,
    rss: sum(a1[i]!.procs, (x) => x.role === "agent").rssKb,
    haproxy: ((sum(a1[i]!.procs, (x) => x.role === "haproxy").ticks - sum(a0[i]!.procs, (x) => x.role === "haproxy").ticks) / a1[i]!.tck / s) * 100,
  }));
}

for (const args of [["machines", "trust", "--yes"], ["setup"]]) await skiff(p, args);
const results: { label: string; r: Awaited<ReturnType<typeof window>> }[] = [];
for (const on of [false, true, false, true]) {
  withAlerts(on);
  await skiff(p, ["deploy"]);
  // The deploy's own work, the first samples and rounds are not the steady state.
  await new Promise((r) => setTimeout(r, 20_000));
  results.push({ label: `alerts ${on ? "on" : "off"}`, r: await window() });
}
console.log(`bench/alerts-cost — 3 machines, 2 process apps (4 instances), idle, ${WINDOW_S} s windows; alerts on: a round every 10 s (m1 leads)`);
console.log(`  ${"".padEnd(12)}${bed.machines.map((m) => `${m.name} agent CPU / RSS / HAProxy CPU`.padEnd(36)).join("")}`);
for (const { label, r } of results) console.log(`  ${label.padEnd(12)}${r.map((x) => `${x.cpu.toFixed(2)} % / ${mb(x.rss)} / ${x.haproxy.toFixed(2)} %`.padEnd(36)).join("")}`);
const avg = (on: boolean) => {
  const rs = results.filter((x) => x.label.endsWith(on ? "on" : "off")).flatMap((x) => x.r);
  return { cpu: rs.reduce((n, x) => n + x.cpu, 0) / rs.length, rss: rs.reduce((n, x) => n + x.rss, 0) / rs.length };
};
const [off, on] = [avg(false), avg(true)];
console.log(`  mean per machine: agent CPU ${off.cpu.toFixed(2)} % → ${on.cpu.toFixed(2)} % (+${(on.cpu - off.cpu).toFixed(2)} points of a core); RSS ${mb(off.rss)} → ${mb(on.rss)}`);
await skiff(p, ["remove", "web", "api", "--yes"]);
