// bench/request-line-cost: what the agent spends per HAProxy request line, in
// the agent's own mode (V8 without its JIT): scanning the line in its chunk
// alone, and scanning it and counting its duration into the app's histogram
// (the part the response-time histogram adds), as agent/log-requests.ts does.
// bench/request-log-cost.ts measures the whole path (socket, filing). No bed;
// figures, not assertions.
//   node --jitless --import tsx bench/request-line-cost.ts   (N lines a run, 1 000 000; ROUNDS 7, the fastest shown:
//   a busy host only ever slows a run down)
import { LineScan, scanLine } from "../src/agent/log-request-scan.ts";
import { bucketOf, RequestDurations } from "../src/metrics/request-durations.ts";

const N = Number(process.env.N ?? 1_000_000);
const ROUNDS = Number(process.env.ROUNDS ?? 7);
const line = '<134>Nov 30 06:40:09 haproxy[77]: 1796018409.042 skiff_p_web s2 public 37 200 13 0/0/1/2/37 172.30.77.1 "GET /print?line=x HTTP/1.1"';
const f = new LineScan();
const counts = new RequestDurations().counts("skiff_p_web", "p", "web");

function perLine(f: () => void): number {
  for (let i = 0; i < N / 10; i++) f();
  const t = process.hrtime.bigint();
  for (let i = 0; i < N; i++) f();
  return Number(process.hrtime.bigint() - t) / N / 1000;
}

const cases: [string, () => void][] = [
  ["scan", () => void scanLine(line, 0, line.length, f)],
  [
    "scan + count in the histogram",
    () => {
      scanLine(line, 0, line.length, f);
      if (!f.mesh && f.ms >= 0) {
        counts.buckets[bucketOf(f.ms)]!++;
        counts.sumMs += f.ms;
      }
    },
  ],
];
const best = cases.map(() => Infinity);
// The cases take turns, so a busy moment of the host does not fall on one of them only.
for (let r = 0; r < ROUNDS; r++) cases.forEach(([, f], i) => (best[i] = Math.min(best[i]!, perLine(f))));
const jitless = process.execArgv.includes("--jitless");
console.log(`bench/request-line-cost — ${N} lines a run, fastest of ${ROUNDS}${jitless ? ", --jitless (as the agent runs)" : " (with the JIT: the agent runs --jitless, run with it)"}`);
cases.forEach(([label], i) => console.log(`  ${label.padEnd(32)}${best[i]!.toFixed(2)} µs a line`));
// At 10 000 lines/s, x µs a line is x × 10 000 µs a second: x % of a core.
console.log(`  the histogram's part: ${(best[1]! - best[0]!).toFixed(2)} µs a line, ${(best[1]! - best[0]!).toFixed(2)} % of a core at 10 000 requests/s`);
