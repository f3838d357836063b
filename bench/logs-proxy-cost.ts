// bench/logs-proxy-cost: what HAProxy's access log costs (issue 11 wants the
// proxy near direct). wrk through one bed machine's HAProxy to one instance,
// alternated between the config the agent wrote (a ring forwarding each request's
// line to the agent, which files it) and the same file without its log lines, swapped
// by a seamless reload (-x, -sf) done here; the agent's and HAProxy's CPU per
// run from /proc. Prints req/s, p99 and CPU for both, and the ratio.
// Measured 2026-11-30 (ROUNDS 3, DURATION 6, host load 2-5): before the agent filed lines in blocks 9 530 vs
// 17 598 req/s (0.54), agent 20-24 % of a core; after, 13 067 vs 15 579 (0.84), agent 5 %.
//   ROUNDS (3), DURATION (8 s), CONNS (32); HTTP_PORT (8125, a bench port of its own). Figures, not assertions.
import { faults } from "../testbed/bed.ts";
import { deployProxyBench, haproxyCpuMs } from "./lib-proxy-bed.ts";
import { wrk, type WrkResult } from "./lib-wrk.ts";

const ROUNDS = Number(process.env.ROUNDS ?? 3);
const SECONDS = Number(process.env.DURATION ?? 8);
const CONNS = Number(process.env.CONNS ?? 32);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const { m, proxied, done } = await deployProxyBench(Number(process.env.HTTP_PORT ?? 8125));
const CFG = "/var/lib/skiff/proxy/haproxy.cfg";
const reload = (cfg: string) =>
  faults.exec(m, `haproxy -c -q -f ${cfg} && haproxy -D -f ${cfg} -p /run/skiff/haproxy.pid -x /run/skiff/haproxy.sock -sf $(head -1 /run/skiff/haproxy.pid) && sleep 1`);
await faults.exec(m, `cp ${CFG} /tmp/with-log.cfg && grep -v -e '^  log ' -e '^  log-format ' ${CFG} > /tmp/no-log.cfg`);
const agentCpuMs = async () => {
  const stat = await faults.exec(m, "cat /proc/$(cat /run/skiff/agent.pid)/stat");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
};
const opts = { threads: 2, connections: CONNS, seconds: SECONDS };
await wrk(proxied, { ...opts, seconds: 2 });

type Run = { r: WrkResult; haproxy: number; agent: number };
const runs: Record<"log" | "nolog", Run[]> = { log: [], nolog: [] };
const pct = (ms: number) => `${((ms / (SECONDS * 1000)) * 100).toFixed(0)}%`;
console.log(`bench/logs-proxy-cost — wrk -t2 -c${CONNS} -d${SECONDS}s through HAProxy on ${m.name}, ${ROUNDS} rounds`);
for (let i = 0; i < ROUNDS; i++) {
  for (const which of (i % 2 ? ["nolog", "log"] : ["log", "nolog"]) as ("log" | "nolog")[]) {
    await reload(which === "log" ? "/tmp/with-log.cfg" : "/tmp/no-log.cfg");
    const [h0, a0] = [await haproxyCpuMs(m), await agentCpuMs()];
    const r = await wrk(proxied, opts);
    const run = { r, haproxy: (await haproxyCpuMs(m)) - h0, agent: (await agentCpuMs()) - a0 };
    runs[which].push(run);
    console.log(`  ${which === "log" ? "logging " : "no log  "} ${r.rps.toFixed(0).padStart(7)} req/s   p99 ${r.p99.toFixed(2).padStart(6)} ms   errors ${r.errors}   HAProxy CPU ${pct(run.haproxy)}   agent CPU ${pct(run.agent)} of a core`);
  }
}
// Back to the agent's own file.
await reload(CFG);
const med = (k: "log" | "nolog", f: (x: Run) => number) => median(runs[k].map(f));
console.log(`\nmedian: logging ${med("log", (x) => x.r.rps).toFixed(0)} req/s vs no log ${med("nolog", (x) => x.r.rps).toFixed(0)} req/s: ratio ${(med("log", (x) => x.r.rps) / med("nolog", (x) => x.r.rps)).toFixed(3)}`);
console.log(`  p99 ${med("log", (x) => x.r.p99).toFixed(2)} vs ${med("nolog", (x) => x.r.p99).toFixed(2)} ms; agent CPU ${pct(med("log", (x) => x.agent))} vs ${pct(med("nolog", (x) => x.agent))} of a core; HAProxy ${pct(med("log", (x) => x.haproxy))} vs ${pct(med("nolog", (x) => x.haproxy))}`);
const lines = await faults.exec(m, "cat /var/lib/skiff/logs/benchproxy/web/req-*.log | wc -l");
console.log(`  request lines filed for the app on ${m.name}: ${lines.trim()}`);
await done();
