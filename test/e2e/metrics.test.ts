// Metrics on 3 bed machines (project `mtest`, app `web` from examples/hello, one
// instance per machine on http_port 8106; /metrics on 8107 for the host only):
// `skiff metrics` passes promtool; the history survives an agent restart;
// `skiff top` shows the app; /metrics answers
// the host (the listed scraper) and refuses a project machine that is not
// listed; a real Prometheus (Debian's, started here on 127.0.0.1:8107 with the
// config `skiff metrics --prometheus-config` prints) scrapes the three agents,
// and its rate of the app's requests matches the paced load this test sent,
// within 10 %; the request-duration histogram counted every request of that
// load exactly once over the three machines, and histogram_quantile answers.
// Ports 8106–8107 only.
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { faults, GATEWAY, up, type Bed } from "../../testbed/bed.ts";
import { makeProject, type Project, type Run } from "./helpers.ts";

const HELLO = new URL("../../examples/hello", import.meta.url).pathname;
const APP_PORT = 8106;
const METRICS_PORT = 8107;
const PROM_PORT = 8107; // on the host's loopback; the agents' 8107 is on the bed's addresses
const PROMETHEUS = "/usr/bin/prometheus";
const PROMTOOL = "/usr/bin/promtool";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let bed: Bed;
let p: Project;
let prom: ChildProcess | undefined;
let promDir = "";

const deploysInHistory = new Map<string, number>();
/** This machine's own records of web's successful deploys (not the CLI's whole-command summaries). */
const HISTORY_COUNT = `/var/lib/skiff/node/bin/node -e 'let n = 0; for (const l of require("fs").readFileSync("/var/lib/skiff/history.jsonl", "utf8").split("\\n")) { try { const e = JSON.parse(l); if (e.project === "mtest" && e.app === "web" && e.action === "deploy" && e.result === "ok" && !e.summary) n++; } catch {} } console.log(n)'`;
/** skiff_deploys_total of web's successful deploys on a machine (0 before its first). */
const deploysOk = (text: string, m: string) => Number(new RegExp(`^skiff_deploys_total\\{action="deploy",app="web",machine="${m}",project="mtest",result="ok"\\} (\\d+)$`, "m").exec(text)?.[1] ?? 0);
const ok = (r: Run, what: string) => assert.equal(r.code, 0, `${what}: ${r.stdout}\n${r.stderr}`);
const promtool = (text: string) => spawnSync(PROMTOOL, ["check", "metrics"], { input: text, encoding: "utf8" });

async function promQuery(query: string, time?: number): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
  const url = `http://127.0.0.1:${PROM_PORT}/api/v1/query?query=${encodeURIComponent(query)}${time ? `&time=${time}` : ""}`;
  const r = (await (await fetch(url)).json()) as { status: string; data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
  assert.equal(r.status, "success", JSON.stringify(r));
  return r.data.result;
}

/** The app's requests counted by the duration histogram, summed over the machines (`skiff metrics`: numbers at most
 *  1 s old); a machine with none yet has no series. */
async function histogramCount(): Promise<number> {
  const r = await p.skiff(["metrics"]);
  ok(r, "skiff metrics");
  const re = /^skiff_app_http_request_duration_seconds_count\{app="web",machine="m\d",project="mtest"\} (\S+)$/gm;
  return [...r.stdout.matchAll(re)].reduce((n, m) => n + Number(m[1]), 0);
}

/** A paced load: one request every `everyMs`, spread over the machines; each 200 answer's time is kept. */
function pacedLoad(urls: string[], everyMs: number) {
  const done: number[] = [];
  let failures = 0;
  let i = 0;
  const timer = setInterval(() => {
    const url = urls[i++ % urls.length]!;
    fetch(url, { signal: AbortSignal.timeout(5000) })
      .then(async (r) => {
        await r.arrayBuffer();
        if (r.status === 200) done.push(Date.now());
        else failures++;
      })
      .catch(() => failures++);
  }, everyMs);
  return {
    stop: () => clearInterval(timer),
    /** Requests started. */
    get sent() {
      return i;
    },
    /** Answers per second between two times (ms). */
    rate: (from: number, to: number) => done.filter((t) => t > from && t <= to).length / ((to - from) / 1000),
    get failures() {
      return failures;
    },
  };
}

describe("metrics", { timeout: 600_000 }, () => {
  before(async () => {
    bed = await up({ count: 3, log: (s) => console.error(`bed: ${s}`) });
    // The host reaches the bed's machines from the bed network's gateway: that is the scraper to allow.
    const gateway = GATEWAY;
    p = makeProject();
    const machines = bed.machines.map((m) => `  ${m.name}: { host: 127.0.0.1, port: ${m.sshPort}, private_address: ${m.address}, http_port: ${APP_PORT}, ssh: { identity_file: ${bed.identityFile} } }`).join("\n");
    writeFileSync(
      join(p.dir, "skiff.yml"),
      `project: mtest
machines:
${machines}
metrics: { listen: true, port: ${METRICS_PORT}, allow: [${gateway}] }
apps:
  web:
    build: { context: ${HELLO} }
    env: { VERSION: metrics }
    port: 3000
    instances: 3
    routes: [{ path: / }]
    health: { path: /healthz, interval: 500ms, deadline: 20s }
    deploy: { drain_timeout: 2s, stop_timeout: 5s, probation: 1s }
`,
    );
    for (const args of [["machines", "trust", "--yes"], ["setup"], ["deploy"]]) ok(await p.skiff(args), args.join(" "));
    // A reused bed keeps each machine's history (an earlier run's deploys of mtest count too): what the metric must say.
    for (const m of bed.machines) deploysInHistory.set(m.name, Number(await faults.exec(m, HISTORY_COUNT)));
  });

  after(async () => {
    if (prom?.pid) process.kill(prom.pid, "SIGTERM");
    await sleep(500);
    if (promDir) rmSync(promDir, { recursive: true, force: true });
    if (p) await p.skiff(["remove", "web", "--yes"]).catch(() => {});
  });

  it("`skiff metrics` (all machines, and one) passes promtool and has every part: machine, instance, app, deploy", async () => {
    const all = await p.skiff(["metrics"]);
    ok(all, "skiff metrics");
    const check = promtool(all.stdout);
    assert.equal(check.status, 0, `${check.stdout}${check.stderr}\n---\n${all.stdout.slice(0, 3000)}`);
    for (const m of ["m1", "m2", "m3"]) {
      assert.match(all.stdout, new RegExp(`^skiff_machine_memory_available_bytes\\{machine="${m}"\\} \\d+`, "m"));
      assert.match(all.stdout, new RegExp(`^skiff_app_http_requests_total\\{app="web",machine="${m}",project="mtest"\\} \\d+`, "m"));
      assert.match(all.stdout, new RegExp(`^skiff_instance_memory_bytes\\{app="web",instance="[^"]+",machine="${m}",project="mtest",release="1"\\} [1-9]\\d*`, "m"));
      assert.match(all.stdout, new RegExp(`^skiff_instance_cpu_seconds_total\\{app="web",instance="[^"]+",machine="${m}",project="mtest",release="1"\\} `, "m"));
      assert.ok(deploysInHistory.get(m)! >= 1);
      assert.equal(deploysOk(all.stdout, m), deploysInHistory.get(m), `${m}: every deploy in its history counted`);
      assert.match(all.stdout, new RegExp(`^skiff_machine_disk_inodes_free\\{machine="${m}",path="/var/lib/skiff"\\} \\d+`, "m"));
    }
    const one = await p.skiff(["metrics", "--machine", "m2"]);
    ok(one, "skiff metrics --machine m2");
    assert.equal(promtool(one.stdout).status, 0);
    assert.doesNotMatch(one.stdout, /machine="m[13]"/);
    const wrong = await p.skiff(["metrics", "--machine", "m9"]);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /no machine named "m9"/);
    // The history's file has its fixed size from the start (24 h at 10 s, 4 KiB slots).
    assert.equal((await faults.exec(bed.machines[0]!, "stat -c %s /var/lib/skiff/metrics/ring.bin")).trim(), String(64 + 8640 * 8192));
  });

  it("the history survives an agent restart", async () => {
    const m1 = bed.machines[0]!;
    const kept = async () => (JSON.parse(await faults.exec(m1, `/usr/local/bin/skiff-agent call metrics.history '{"prefix":"skiff_machine_load1"}'`)) as { samples: { t: number }[] }).samples.map((s) => s.t);
    const before = await kept();
    assert.ok(before.length >= 2, `samples kept so far: ${before.length}`);
    await faults.exec(m1, "/etc/init.d/skiff-agent restart >/dev/null");
    let after = await kept();
    // Its first sample is taken as it starts listening: give it a moment.
    for (let i = 0; i < 30 && after.length <= before.length; i++) await sleep(100), (after = await kept());
    assert.deepEqual(after.slice(0, before.length), before, "the samples from before the restart are still there, in order");
    assert.ok(after.length >= before.length + 1, "and the new agent appends after them (its first sample at start)");
  });

  it("/metrics on the private address answers the listed scraper and refuses a project machine that is not listed", async () => {
    const r = await fetch(`http://${bed.machines[0]!.address}:${METRICS_PORT}/metrics`, { signal: AbortSignal.timeout(5000) });
    assert.equal(r.status, 200);
    assert.match(r.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
    assert.equal(promtool(await r.text()).status, 0);
    const fromM2 = await faults.exec(bed.machines[1]!, `curl -sS -o /dev/null -w '%{http_code}' --connect-timeout 3 http://${bed.machines[0]!.address}:${METRICS_PORT}/metrics 2>/dev/null || echo " curl exit $?"`);
    assert.match(fromM2, /curl exit 7/, `m2 → m1:${METRICS_PORT}: ${fromM2}`);
    // The machine itself may read it (loopback is never filtered… but the agent listens on the private address).
    const self = await faults.exec(bed.machines[0]!, `curl -sS -o /dev/null -w '%{http_code}' http://${bed.machines[0]!.address}:${METRICS_PORT}/metrics`);
    assert.equal(self.trim(), "200");
  });

  it("a real Prometheus scrapes the three agents; its request rate for web matches the load sent (within 10 %)", async () => {
    const cfg = await p.skiff(["metrics", "--prometheus-config"]);
    ok(cfg, "--prometheus-config");
    promDir = mkdtempSync(join(tmpdir(), "skiff-prom-"));
    writeFileSync(join(promDir, "prometheus.yml"), cfg.stdout);
    prom = spawn(PROMETHEUS, [`--config.file=${join(promDir, "prometheus.yml")}`, `--storage.tsdb.path=${join(promDir, "data")}`, `--web.listen-address=127.0.0.1:${PROM_PORT}`, "--log.level=warn"], { stdio: ["ignore", "ignore", "pipe"] });
    let promErr = "";
    prom.stderr!.on("data", (b) => (promErr += b));
    for (let i = 0; ; i++) {
      const ready = await fetch(`http://127.0.0.1:${PROM_PORT}/-/ready`).then((r) => r.ok, () => false);
      if (ready) break;
      assert.ok(i < 100, `prometheus did not start: ${promErr}`);
      await sleep(200);
    }
    const counted = await histogramCount();
    const load = pacedLoad(bed.machines.map((m) => `http://${m.address}:${APP_PORT}/`), 20); // 50 requests/s
    const started = Date.now();
    try {
      // Steady long enough that the 60 s window, the agents' 10 s sampling and the 10 s scrapes all see it.
      await sleep(95_000);
      const at = Date.now() - 2000;
      const result = await promQuery('sum(rate(skiff_app_http_requests_total{project="mtest",app="web"}[60s]))', at / 1000);
      const up = await promQuery('up{job="skiff-mtest"}');
      assert.deepEqual(up.map((u) => u.value[1]), ["1", "1", "1"], `targets: ${JSON.stringify(up)}`);
      assert.equal(result.length, 1, `no rate: ${JSON.stringify(result)}`);
      const seen = Number(result[0]!.value[1]);
      const sent = load.rate(at - 70_000, at - 10_000);
      console.error(`metrics e2e: Prometheus rate ${seen.toFixed(2)}/s, sent ${sent.toFixed(2)}/s (load since ${((at - started) / 1000).toFixed(0)} s, ${load.failures} failures)`);
      assert.equal(load.failures, 0);
      assert.ok(Math.abs(seen - sent) / sent <= 0.1, `Prometheus says ${seen}/s, the test sent ${sent}/s`);
      // Per machine, each got its third.
      const per = await promQuery('sum by (machine) (rate(skiff_app_http_requests_total{project="mtest",app="web"}[60s]))', at / 1000);
      assert.equal(per.length, 3);
      // The histogram's rate is the same load, and its p95 is a duration (the app answers in a few ms: under 1 s).
      const histRate = Number((await promQuery('sum(rate(skiff_app_http_request_duration_seconds_count{project="mtest",app="web"}[60s]))', at / 1000))[0]?.value[1]);
      assert.ok(Math.abs(histRate - sent) / sent <= 0.1, `histogram: ${histRate}/s, the test sent ${sent}/s`);
      const p95 = await promQuery('histogram_quantile(0.95, sum by (le) (rate(skiff_app_http_request_duration_seconds_bucket{project="mtest",app="web"}[60s])))', at / 1000);
      assert.equal(p95.length, 1, JSON.stringify(p95));
      const p95s = Number(p95[0]!.value[1]);
      console.error(`metrics e2e: histogram rate ${histRate.toFixed(2)}/s, p95 ${(p95s * 1000).toFixed(2)} ms`);
      assert.ok(p95s > 0 && p95s < 1, `p95 ${p95[0]!.value[1]}`);
      // skiff top, with requests in its last interval: the average to the first byte and the interval's p95.
      const top = await p.skiff(["top", "--once"]);
      ok(top, "top --once");
      assert.match(top.stdout, /^MACHINE\s+CPU\s+MEMORY\s+DISK\s+LOAD/m);
      assert.match(top.stdout, /^APP\s+MACHINE\s+REQ\/S\s+5XX\s+RESPONSE\s+P95\s/m);
      assert.match(top.stdout, /^web\s+m1\s+[\d.]+\s+\S+\s+\d+ms\s+\d+ms\s/m, top.stdout);
    } finally {
      load.stop();
    }
    // Every request of the load, counted once over the three machines (the last answers arrive and their lines
    // reach the agents within a few seconds).
    await sleep(6000);
    assert.equal(load.failures, 0);
    assert.equal((await histogramCount()) - counted, load.sent, "the histograms' _count over the machines: each request once");
  });
});
