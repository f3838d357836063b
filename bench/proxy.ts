// bench/proxy: wrk from this host to one instance of the Node app (process
// runtime) on one bed machine, direct (instance address:port) and through that
// machine's HAProxy (:80), both over the bed network (the machine's own IP, not
// the loopback port mapping, which would add docker-proxy to one side only).
// Alternated ROUNDS times; prints each run, the median ratio proxied/direct
// req/s and the added p99 latency, and HAProxy's CPU time per proxied run.
// Figures, not assertions. ORDER=proxied-first starts each round with the proxy
// (this host is noisy and shared: run both orders).
// Measured 2026-11-29, 2-core host shared by 5 engineers (load 3-8), Node app direct ~20-23k req/s:
//   HAProxy 2 threads (before): ratio 0.52 / 0.59, added p99 3.5 / 2.2 ms (direct-first / proxied-first)
//   HAProxy 1 thread  (after):  ratio 0.72 / 0.76, added p99 0.96 / 0.96 ms; HAProxy ~64% of a core at 16k req/s
import { writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { bedConfig, faults, up } from "../testbed/bed.ts";
import { NODE_BIN } from "../src/contracts/paths.ts";
import { makeProject } from "../test/e2e/helpers.ts";
import { wrk, type WrkResult } from "./lib-wrk.ts";

const ROUNDS = Number(process.env.ROUNDS ?? 3);
const SECONDS = Number(process.env.DURATION ?? 8);
const CONNS = Number(process.env.CONNS ?? 32);
const THREADS = Number(process.env.THREADS ?? 2);
const ORDER = process.env.ORDER === "proxied-first" ? "proxied-first" : "direct-first";
/** The app's command: the machine's own node if it has one, else the Node that setup ships for the agent (setup
 *  no longer installs Debian's nodejs, so a fresh bed machine has no `node` on PATH). */
const RUN_NODE = `'exec "$(command -v node || echo ${NODE_BIN})" server.js'`;
const HELLO_NODE_DIR = new URL("../examples/hello-node", import.meta.url).pathname;
/** A port of its own: another suite's app left on the shared bed may route / on :80 already. */
const HTTP_PORT = Number(process.env.HTTP_PORT ?? 8090);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const bed = await up({ count: 1 });
const m = bed.machines[0]!;
const p = makeProject(bed);
writeFileSync(
  join(p.dir, "skiff.yml"),
  bedConfig(bed, {
    project: "benchproxy",
    httpPort: HTTP_PORT,
    extra: `apps:\n  web:\n    run: ${RUN_NODE}\n    artifact: ${HELLO_NODE_DIR}\n    instances: 1\n    health: { path: /healthz, interval: 1s }\n    routes: [{ path: / }]\n`,
  }),
);
for (const args of [["machines", "trust", "--yes"], ["setup"], ["deploy"]]) {
  const r = await p.skiff(args);
  if (r.code !== 0) throw new Error(`skiff ${args.join(" ")}: exit ${r.code}\n${r.stderr}`);
}

// The instance's address as HAProxy has it: the one enabled, non-backup server of this app's backend.
const cfg = await faults.exec(m, "cat /var/lib/skiff/proxy/haproxy.cfg");
const backend = cfg.slice(cfg.indexOf("\nbackend skiff_benchproxy_web"));
const server = /\n {2}server \S+ (\S+):(\d+) check(?![^\n]*(?:disabled|backup))/.exec(backend);
if (!server) throw new Error(`no enabled server for skiff_benchproxy_web in haproxy.cfg:\n${cfg}`);
const direct = `http://${server[1]}:${server[2]}/`;
const proxied = `http://${m.address}:${HTTP_PORT}/`;

/** HAProxy's CPU time (all threads) in ms, from /proc: utime + stime. */
async function haproxyCpuMs(): Promise<number> {
  const stat = await faults.exec(m, "cat /proc/$(cat /run/skiff/haproxy.pid | head -1)/stat");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // fields 14 and 15 of stat, at 100 ticks a second
}

const opts = { threads: THREADS, connections: CONNS, seconds: SECONDS };
// Warm-up: Node's JIT and HAProxy's first connections, not counted.
await wrk(direct, { ...opts, seconds: 2 });
await wrk(proxied, { ...opts, seconds: 2 });

const runs: { direct: WrkResult; proxied: WrkResult; haproxyCpu: number }[] = [];
const show = (label: string, r: WrkResult, extra = "") =>
  console.log(`  ${label.padEnd(8)} ${r.rps.toFixed(0).padStart(7)} req/s   p50 ${r.p50.toFixed(2).padStart(6)} ms   p99 ${r.p99.toFixed(2).padStart(6)} ms   errors ${r.errors}${extra}`);
console.log(`bench/proxy — wrk -t${THREADS} -c${CONNS} -d${SECONDS}s --latency, ${ROUNDS} rounds, ${ORDER}`);
console.log(`  direct  ${direct}\n  proxied ${proxied} (HAProxy on ${m.name})`);
// The host is shared: its load says how much the figures below can be trusted.
const load = () => loadavg().map((x) => x.toFixed(1)).join(" ");
console.log(`  host load average before: ${load()}`);
const tuning = cfg.split("\n").filter((l) => /nbthread|http-reuse|tune\.|maxconn|option http-|option prefer|no log|timeout tunnel/.test(l));
console.log(`  haproxy.cfg tuning: ${tuning.map((l) => l.trim()).join("; ") || "(none: HAProxy defaults)"}`);
// The running HAProxy, not only the file: a new agent may have rendered the file without a reload since.
const threads = (await faults.exec(m, "grep '^Threads:' /proc/$(head -1 /run/skiff/haproxy.pid)/status")).replace(/\s+/g, " ");
console.log(`  running HAProxy: ${threads}, started ${(await faults.exec(m, "ps -o lstart= -p $(head -1 /run/skiff/haproxy.pid)")).trim()}`);
for (let i = 0; i < ROUNDS; i++) {
  console.log(`round ${i + 1}`);
  let d: WrkResult | undefined;
  let pr: WrkResult | undefined;
  let cpu = 0;
  for (const which of ORDER === "direct-first" ? ["direct", "proxied"] : ["proxied", "direct"]) {
    if (which === "direct") show("direct", (d = await wrk(direct, opts)));
    else {
      const c0 = await haproxyCpuMs();
      pr = await wrk(proxied, opts);
      cpu = (await haproxyCpuMs()) - c0;
      show("proxied", pr, `   HAProxy CPU ${((cpu / (SECONDS * 1000)) * 100).toFixed(0)}% of a core`);
    }
  }
  runs.push({ direct: d!, proxied: pr!, haproxyCpu: cpu });
}

const ratio = median(runs.map((r) => r.proxied.rps / r.direct.rps));
const addedP99 = median(runs.map((r) => r.proxied.p99 - r.direct.p99));
const addedP50 = median(runs.map((r) => r.proxied.p50 - r.direct.p50));
console.log(`  host load average after: ${load()}`);
console.log(`\nmedian of ${ROUNDS}: proxied/direct req/s ${ratio.toFixed(2)} (target ≥ 0.80); added p99 ${addedP99.toFixed(2)} ms (target ≤ 1 ms); added p50 ${addedP50.toFixed(2)} ms`);
console.log(`  direct ${median(runs.map((r) => r.direct.rps)).toFixed(0)} req/s, proxied ${median(runs.map((r) => r.proxied.rps)).toFixed(0)} req/s, errors ${runs.reduce((a, r) => a + r.direct.errors + r.proxied.errors, 0)}`);

// KEEP=1 leaves the app deployed (to try HAProxy settings against it by hand afterwards).
if (process.env.KEEP !== "1") {
  const r = await p.skiff(["remove", "web", "--yes"]);
  if (r.code !== 0) console.error(`cleanup: skiff remove web failed: ${r.stderr}`);
}
