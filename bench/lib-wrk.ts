// One wrk run with --latency, parsed: requests per second, latency percentiles
// and every error wrk counts (socket errors and non-2xx/3xx answers).
import { spawn } from "node:child_process";

export interface WrkResult {
  rps: number;
  requests: number;
  /** Latency percentiles in ms. */
  p50: number;
  p99: number;
  errors: number;
  raw: string;
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };

/** "812.00us", "1.21ms", "2.00s" → ms. */
export function latencyMs(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text.trim());
  if (!m) throw new Error(`wrk latency "${text}" is not a number with a unit`);
  return Number(m[1]) * UNIT_MS[m[2]!]!;
}

export function parseWrk(out: string): WrkResult {
  const num = (re: RegExp) => out.match(re)?.slice(1) ?? [];
  const [rps] = num(/Requests\/sec:\s+([\d.]+)/);
  const [requests] = num(/(\d+) requests in/);
  const [p50] = num(/^\s+50%\s+(\S+)$/m);
  const [p99] = num(/^\s+99%\s+(\S+)$/m);
  if (rps === undefined || p50 === undefined || p99 === undefined) throw new Error(`wrk printed no result:\n${out}`);
  const sock = num(/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/).map(Number);
  const [non2xx = "0"] = num(/Non-2xx or 3xx responses: (\d+)/);
  return { rps: Number(rps), requests: Number(requests), p50: latencyMs(p50), p99: latencyMs(p99), errors: sock.reduce((a, b) => a + b, 0) + Number(non2xx), raw: out };
}

export interface WrkOptions {
  threads: number;
  connections: number;
  seconds: number;
}

export function wrk(url: string, o: WrkOptions): Promise<WrkResult> {
  return new Promise((resolve, reject) => {
    const p = spawn("wrk", [`-t${o.threads}`, `-c${o.connections}`, `-d${o.seconds}s`, "--latency", url], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    p.stdout.on("data", (b) => (out += b));
    p.stderr.on("data", (b) => (err += b));
    p.on("error", reject);
    p.on("close", (code) => {
      if (code !== 0) return reject(new Error(`wrk ${url} exited ${code}: ${err || out}`));
      try {
        resolve(parseWrk(out));
      } catch (e) {
        reject(e);
      }
    });
  });
}
