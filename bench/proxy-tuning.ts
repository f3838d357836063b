// bench/proxy-tuning: HAProxy settings of the global/defaults sections tried against the same deployed
// instance, alternated round by round so that each variant meets the same noise: per round and variant, HAProxy
// is reloaded (seamlessly, as the agent does) with the agent's haproxy.cfg plus the variant's change, then wrk
// runs direct and proxied back to back. Prints each variant's median ratio proxied/direct and added p99, and
// HAProxy's CPU per 1,000 proxied requests. The agent's own file comes back at the end. Figures, not assertions:
// a variant goes into src/proxy/config.ts only when it wins clearly here.
// VARIANTS=baseline,reuse-always picks some; ROUNDS, DURATION, CONNS, THREADS as in bench/proxy.
// Measured 2026-11-30 (2-core host shared by 4 engineers, load 3-7; direct swung 14.7k-29.7k req/s within a run):
//   7 rounds, median ratio / added p99 / HAProxy ms CPU per 1k req: baseline 0.72 / 2.31 / 48.3, http-reuse always
//   0.63 / 2.15 / 42.5, tune.bufsize 8192 0.68 / 2.57 / 44.8, option http-no-delay 0.65 / 2.22 / 47.8. An earlier
//   3-round run: cpu-map to CPU 1 0.62, nbthread 2 0.59, no L7 retries 0.67 (HAProxy CPU 35 against 44.5 for
//   baseline: the retries' kept request buffer is HAProxy's largest setting-bound cost, and what keeps a switch
//   at zero failed requests). None beat the baseline beyond the noise: src/proxy/config.ts keeps its settings.
// Again 2026-11-30 evening (load 2), 3 rounds: baseline 0.63 / 3.21 ms / 68.4 ms, no-log 0.74 / 3.25 / 63.5,
//   edge-triggered (tune.fd.edge-triggered, experimental in 2.6) 0.70 / 4.80 / 77.3: no gain, not adopted.
// 2026-12-01 (load 1-2), 3 rounds each, two runs a few minutes apart: baseline 0.64 / 2.99 / 52.8 and 0.65 / 2.85 /
//   41.8; no-log 0.81 / 2.27 / 38.1 and 0.72 / 3.05 / 35.5; bare (HAProxy with nothing of skiff's) 0.84 / 1.06 / 32.2
//   and 0.67 / 1.91 / 42.0; ring-unforwarded 0.79 / 1.72 / 47.1; log-udp-nobody 0.67 / 2.76 / 66.0. The same variant
//   moves by 0.17 and 10 ms CPU/1k req between runs here: the request log costs HAProxy 6-15 µs a request (a UDP
//   datagram a line costs more than the ring), and bare HAProxy alone reaches 0.8 in one run of two.
import { loadavg } from "node:os";
import { faults, type BedMachine } from "../testbed/bed.ts";
import { deployProxyBench, haproxyCpuMs } from "./lib-proxy-bed.ts";
import { wrk, type WrkResult } from "./lib-wrk.ts";

const ROUNDS = Number(process.env.ROUNDS ?? 3);
const SECONDS = Number(process.env.DURATION ?? 6);
const opts = { threads: Number(process.env.THREADS ?? 2), connections: Number(process.env.CONNS ?? 32), seconds: SECONDS };
const HTTP_PORT = Number(process.env.HTTP_PORT ?? 8124);
const CFG = "/var/lib/skiff/proxy/haproxy.cfg";
const TRY = "/var/lib/skiff/proxy/haproxy-tuning.cfg";
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

interface Variant {
  name: string;
  /** Lines added at the end of `global` / `defaults`. */
  global?: string[];
  defaults?: string[];
  /** Lines of global/defaults taken out (trimmed text). */
  drop?: string[];
  /** Lines of global/defaults taken out by how their trimmed text starts. */
  dropStarting?: string[];
  /** A whole file of its own in place of the agent's (made from the agent's). */
  whole?: (base: string) => string;
}

/** The least HAProxy that carries the same requests: the bench's public port and the instance as its one server,
 *  nothing else (no log, retries, header rules, checks, other frontends). What HAProxy itself costs here. */
function bare(base: string): string {
  const backend = base.slice(base.indexOf("\nbackend skiff_benchproxy_web"));
  const server = /\n {2}server \S+ (\S+:\d+) check(?![^\n]*(?:disabled|backup))/.exec(backend)?.[1];
  if (!server) throw new Error("bare: no enabled server of skiff_benchproxy_web in the agent's haproxy.cfg");
  const bind = `bind :${HTTP_PORT}`;
  return [
    "global",
    "  stats socket /run/skiff/haproxy.sock mode 600 level admin expose-fd listeners",
    "  pidfile /run/skiff/haproxy.pid",
    "  nbthread 1",
    "defaults",
    "  mode http",
    "  timeout connect 2s",
    "  timeout client 60s",
    "  timeout server 60s",
    "frontend public",
    `  ${bind}`,
    "  default_backend app",
    "backend app",
    `  server s1 ${server}`,
    "",
  ].join("\n");
}

const ALL: Variant[] = [
  { name: "baseline" },
  { name: "reuse-always", drop: ["http-reuse safe"], defaults: ["http-reuse always"] },
  { name: "bufsize-8k", global: ["tune.bufsize 8192"] },
  { name: "no-delay", defaults: ["option http-no-delay"] },
  { name: "pinned-cpu1", global: ["cpu-map 1/1 1"] },
  { name: "threads-2", drop: ["nbthread 1"], global: ["nbthread 2"] },
  // What the request log still costs through the proxy (the agent's share and HAProxy's), next to the baseline.
  { name: "no-log", dropStarting: ["log ", "log-format "] },
  { name: "low-latency", global: ["tune.sched.low-latency on"] },
  // Fewer epoll_ctl() calls (syscalls are dear on these VMs); experimental in 2.6, so only tried here.
  { name: "edge-triggered", global: ["expose-experimental-directives", "tune.fd.edge-triggered on"] },
  // Not a candidate (retries are what keeps a switch at zero failed requests): what they cost, for the record.
  { name: "no-l7-retries", drop: ["retry-on all-retryable-errors"] },
  // Where the request log's cost lies: lines written into the ring that nothing forwards, and lines sent one UDP
  // datagram each to a port nobody reads (the way before the ring).
  { name: "ring-unforwarded", whole: (base) => base.replace(/\n {2}server agent [^\n]*/, "") },
  { name: "log-udp-nobody", whole: (base) => base.replace(/\n {2}log ring@skiff_requests local0/, "\n  log 127.0.0.1:10599 len 2048 format raw local0") },
  // Not a candidate either: HAProxy with nothing of skiff's, the floor of any setting above on this host.
  { name: "bare", whole: bare },
];
const picked = process.env.VARIANTS?.split(",");
const variants = picked ? ALL.filter((v) => picked.includes(v.name)) : ALL;

/** The agent's file with the variant applied to its global and defaults sections only. */
function variantCfg(base: string, v: Variant): string {
  // HAProxy refuses a file whose last line has no LF (and the bed's exec trims its output).
  if (v.whole) return v.whole(base).replace(/\n*$/, "\n");
  const out: string[] = [];
  let section = "";
  const flush = () => {
    if (section === "global") out.push(...(v.global ?? []).map((l) => `  ${l}`));
    if (section === "defaults") out.push(...(v.defaults ?? []).map((l) => `  ${l}`));
  };
  for (const line of base.split("\n")) {
    if (/^\S/.test(line)) {
      flush();
      section = line.split(/\s/)[0]!;
    }
    if ((section === "global" || section === "defaults") && (v.drop?.includes(line.trim()) || v.dropStarting?.some((d) => line.trim().startsWith(d)))) continue;
    out.push(line);
  }
  flush();
  // HAProxy refuses a file whose last line has no LF (and the bed's exec trims its output).
  return out.join("\n").replace(/\n*$/, "\n");
}

/** Seamless reload onto `file` (written first when `cfg` is given), as the agent reloads: -x takes the sockets over. */
async function reload(m: BedMachine, file: string, cfg?: string): Promise<void> {
  const write = cfg === undefined ? "true" : `echo ${Buffer.from(cfg).toString("base64")} | base64 -d > ${file}`;
  for (let attempt = 1; ; attempt++) {
    const out = await faults.exec(m, `{ ${write} && haproxy -c -q -f ${file} && haproxy -D -f ${file} -p /run/skiff/haproxy.pid -x /run/skiff/haproxy.sock -sf $(head -1 /run/skiff/haproxy.pid) && echo reloaded; } 2>&1; true`);
    if (out.includes("reloaded")) break;
    if (attempt === 3) throw new Error(`reloading HAProxy onto ${file} failed:\n${out}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
  await new Promise((r) => setTimeout(r, 1500));
}

const { m, direct, proxied, cfg, done } = await deployProxyBench(HTTP_PORT);
console.log(`bench/proxy-tuning — wrk -t${opts.threads} -c${opts.connections} -d${SECONDS}s, ${ROUNDS} rounds × ${variants.length} variants, alternated`);
console.log(`  host load average before: ${loadavg().map((x) => x.toFixed(1)).join(" ")}`);
const results = new Map<string, { ratio: number; addedP99: number; cpuPerK: number; d: WrkResult; p: WrkResult }[]>(variants.map((v) => [v.name, []]));
try {
  for (let round = 1; round <= ROUNDS; round++) {
    // Each round in another order, so no variant always follows the same one.
    const order = round % 2 ? variants : [...variants].reverse();
    for (const v of order) {
      await reload(m, TRY, variantCfg(cfg, v));
      await wrk(proxied, { ...opts, seconds: 1 }); // the new process's first connections
      const d = await wrk(direct, opts);
      const c0 = await haproxyCpuMs(m);
      const p = await wrk(proxied, opts);
      const cpu = (await haproxyCpuMs(m)) - c0;
      const r = { ratio: p.rps / d.rps, addedP99: p.p99 - d.p99, cpuPerK: cpu / (p.requests / 1000), d, p };
      results.get(v.name)!.push(r);
      console.log(`  round ${round} ${v.name.padEnd(14)} direct ${d.rps.toFixed(0).padStart(6)}  proxied ${p.rps.toFixed(0).padStart(6)} req/s  ratio ${r.ratio.toFixed(2)}  added p99 ${r.addedP99.toFixed(2)} ms  HAProxy ${r.cpuPerK.toFixed(1)} ms CPU/1k req  errors ${d.errors + p.errors}`);
    }
  }
} finally {
  // The agent's own file, as it wrote it.
  await reload(m, CFG);
  await faults.exec(m, `rm -f ${TRY}`);
}
console.log(`  host load average after: ${loadavg().map((x) => x.toFixed(1)).join(" ")}`);
console.log(`\nmedian of ${ROUNDS}:  variant         ratio   added p99   HAProxy CPU/1k req`);
for (const [name, rs] of results) console.log(`  ${name.padEnd(22)} ${median(rs.map((r) => r.ratio)).toFixed(2).padStart(5)}   ${median(rs.map((r) => r.addedP99)).toFixed(2).padStart(6)} ms   ${median(rs.map((r) => r.cpuPerK)).toFixed(1).padStart(5)} ms`);
await done();
