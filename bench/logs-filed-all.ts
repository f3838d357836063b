// bench/logs-filed-all: whether every request through HAProxy reaches the agent's request log and histogram, below
// saturation (HAProxy then forwards a line a write): N requests (16 at a time, Node fetch) through one bed machine's
// HAProxy to one instance, then the app's req lines and histogram count added on that machine. Prints both next to N.
//   N (20 000); HTTP_PORT (8123, shared with bench/proxy). Figures, not assertions.
import { faults } from "../testbed/bed.ts";
import { deployProxyBench } from "./lib-proxy-bed.ts";

const N = Number(process.env.N ?? 20_000);
const { m, proxied, done } = await deployProxyBench(Number(process.env.HTTP_PORT ?? 8123));
const count = async () => {
  const t = (JSON.parse(await faults.exec(m, `/usr/local/bin/skiff-agent call metrics.text '{"project":"benchproxy"}'`)) as { text: string }).text;
  return Number(/skiff_app_http_request_duration_seconds_count\{[^}]*app="web"[^}]*\} (\d+)/.exec(t)?.[1] ?? 0);
};
const lines = async () => Number((await faults.exec(m, "cat /var/lib/skiff/logs/benchproxy/web/req-*.log 2>/dev/null | wc -l")).trim());
await new Promise((r) => setTimeout(r, 2000));
const [c0, l0] = [await count(), await lines()];
let sent = 0;
let failed = 0;
const t0 = Date.now();
await Promise.all(
  Array.from({ length: 16 }, async () => {
    while (sent < N) {
      sent++;
      const r = await fetch(proxied).catch(() => undefined);
      if (r?.ok) await r.arrayBuffer();
      else failed++;
    }
  }),
);
const secs = (Date.now() - t0) / 1000;
await new Promise((r) => setTimeout(r, 1500)); // the last round (every 100 ms) and the sample
const [c1, l1] = [await count(), await lines()];
console.log(`bench/logs-filed-all — ${N} requests in ${secs.toFixed(1)} s (${(N / secs).toFixed(0)} req/s), ${failed} failed, through HAProxy on ${m.name}`);
console.log(`  request lines filed: ${l1 - l0}; histogram count added: ${c1 - c0}`);
await done();
