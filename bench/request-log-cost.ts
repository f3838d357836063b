// bench/request-log-cost: what the agent's whole request-log path costs per line (the socket's reads, parsing,
// the histogram, filing into the app's req log), in the agent's own mode (--jitless), without the bed: the real
// RequestLog listens on loopback and a sender (another Node, with its JIT, standing in for HAProxy's ring) writes
// lines at RATE lines/s, PER_WRITE lines a write. Prints the receiver's CPU per line and as % of a core at that rate,
// and checks every line was filed. Figures, not assertions.
//   node --jitless --import tsx bench/request-log-cost.ts   (RATE 8000, PER_WRITE 1 and 20, SECONDS 6, HEADER=1)
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RequestLog } from "../src/agent/log-requests.ts";
import { LogStore } from "../src/agent/log-store.ts";
import { Store } from "../src/agent/store.ts";
import { RequestDurations } from "../src/metrics/request-durations.ts";

const RATE = Number(process.env.RATE ?? 8000);
const SECONDS = Number(process.env.SECONDS ?? 6);
const PER_WRITES = (process.env.PER_WRITE ?? "1,20").split(",").map(Number);
const HEADER = process.env.HEADER === "1" ? "<134>Nov 30 06:40:09 haproxy[77]: " : "";

// The sender: lines as HAProxy's ring forwards them (REQUEST_LOG_FORMAT; HEADER=1: with an rfc3164 header, as the
// ring sent them before it was made `format raw`), paced every 10 ms.
const SENDER = `
const net = require("node:net");
const [port, rate, seconds, per] = process.argv.slice(1, 5).map(Number);
const header = process.argv[5];
const s = net.connect(port, "127.0.0.1", () => {
  s.setNoDelay(true);
  let sent = 0;
  const total = rate * seconds;
  const t0 = Date.now();
  const tick = setInterval(() => {
    const due = Math.min(total, Math.round(((Date.now() - t0) / 1000) * rate));
    while (sent < due) {
      let chunk = "";
      for (let i = 0; i < per && sent < due; i++, sent++) {
        const now = Date.now();
        const ms = String(now % 1000).padStart(3, "0");
        chunk += header + Math.floor(now / 1000) + "." + ms + " skiff_bench_web s" + (1 + (sent % 2)) + " public " + (sent % 7) + " 200 13 0/0/0/" + (sent % 7) + "/" + (sent % 7) + " 172.30.77.1 \\"GET /hello?n=" + sent + " HTTP/1.1\\"\\n";
      }
      s.write(chunk);
    }
    if (sent >= total) { clearInterval(tick); s.end(); }
  }, 10);
});
`;

async function run(per: number): Promise<{ usPerLine: number; filed: number; sent: number }> {
  const dir = mkdtempSync(join(tmpdir(), "skiff-reqlog-bench-"));
  const store = new Store(dir);
  const inst = (slot: string, n: number) => ({ name: `skiff-bench-web-3-${n}`, release: 3, hostPort: 30000 + n, slot, startedAt: "", restarts: 0 });
  store.saveState({ project: "bench", app: "web", active: 3, instances: [inst("s1", 1), inst("s2", 2)], warm: [], pending: [] });
  const logs = new LogStore(join(dir, "logs"), () => 1 << 30);
  const log = new RequestLog(logs, store, (s) => console.error(s), new RequestDurations());
  log.listen("127.0.0.1:0");
  await new Promise((r) => setTimeout(r, 200));
  const sender = spawn(process.execPath, ["-e", SENDER, String(log.address()!.port), String(RATE), String(SECONDS), String(per), HEADER], { stdio: "inherit" }); // no --jitless: it stands in for HAProxy
  const c0 = process.cpuUsage();
  await new Promise((r) => sender.on("close", r));
  await new Promise((r) => setTimeout(r, 500)); // the last lines read and filed
  log.close();
  const c = process.cpuUsage(c0);
  const d = join(dir, "logs", "bench", "web");
  const filed = readdirSync(d).reduce((a, f) => a + readFileSync(join(d, f), "latin1").split("\n").length - 1, 0);
  rmSync(dir, { recursive: true, force: true });
  const sent = RATE * SECONDS;
  return { usPerLine: (c.user + c.system) / sent, filed, sent };
}

const jitless = process.execArgv.includes("--jitless");
console.log(`bench/request-log-cost — ${RATE} lines/s for ${SECONDS} s${HEADER ? ", each with a syslog header" : ""}${jitless ? ", --jitless (as the agent runs)" : " (with the JIT: the agent runs --jitless, run with it)"}`);
for (const per of PER_WRITES) {
  const r = await run(per);
  // x µs a line at RATE lines/s is x × RATE / 10 000 % of a core.
  console.log(`  ${String(per).padStart(3)} line(s) a write: ${r.usPerLine.toFixed(2).padStart(6)} µs CPU a line, ${((r.usPerLine * RATE) / 10_000).toFixed(1)} % of a core; filed ${r.filed} of ${r.sent}`);
}
