// The response-time histogram: request lines → durations (Ta) → buckets, each
// request counted once (the machine it entered, not the mesh frontend of the
// one it was handed to); the exposition as Prometheus writes a histogram
// (promtool passes); quantiles as histogram_quantile computes them, over a
// window of two samples, across an agent restart. Expectations by hand.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parseRequestLine, RequestLog } from "../../src/agent/log-requests.ts";
import { LogStore } from "../../src/agent/log-store.ts";
import { MetricsSampler } from "../../src/agent/metrics-sampler.ts";
import { Store } from "../../src/agent/store.ts";
import type { Sample } from "../../src/metrics/catalogue.ts";
import { exposition, mergeExpositions } from "../../src/metrics/exposition.ts";
import { histogramQuantile, windowQuantiles } from "../../src/metrics/quantile.ts";
import { RequestDurations } from "../../src/metrics/request-durations.ts";
import { appsTop } from "../../src/metrics/top.ts";

const H = "skiff_app_http_request_duration_seconds";
const near = (a: number | undefined, b: number, what = "") => assert.ok(a !== undefined && Math.abs(a - b) < 1e-9, `${what}: ${a} ≠ ${b}`);
const promtool = (text: string) => spawnSync("/usr/bin/promtool", ["check", "metrics"], { input: text, encoding: "utf8" });
/** le → cumulative count of one app's histogram in a list of series. */
const buckets = (series: Sample["series"]) => Object.fromEntries(series.filter((s) => s.name === `${H}_bucket`).map((s) => [s.labels.le, s.value]));

describe("request lines: frontend and Ta", () => {
  const line = (server: string, frontend: string, ta: string, status = "200") => `1796018409.042 skiff_p_web ${server} ${frontend} ${ta} ${status} 13 0/0/1/2/${ta} 172.30.77.1 "GET / HTTP/1.1"`;
  it("frontend and Ta come before what the request log keeps", () => {
    assert.deepEqual(parseRequestLine(`<134>Nov 30 06:40:09 haproxy[77]: ${line("p1", "public", "37")}\n`), {
      time: "2026-11-30T06:00:09.042Z",
      backend: "skiff_p_web",
      server: "p1",
      text: '200 13 0/0/1/2/37 172.30.77.1 "GET / HTTP/1.1"',
      mesh: false,
      ms: 37,
    });
  });
  it("the mesh frontend (an SSL frontend: %ft writes `mesh~`) is told apart; names that only start alike are not it", () => {
    assert.equal(parseRequestLine(line("s1", "mesh~", "1"))?.mesh, true);
    assert.equal(parseRequestLine(line("s1", "mesh", "1"))?.mesh, true);
    for (const f of ["public", "public_8080", "https~", "internal", "meshy", "mesh_tcp", "mes"]) assert.equal(parseRequestLine(line("s1", f, "1"))?.mesh, false, f);
  });
  it("no duration for a TCP line, an aborted one (-1), a logasap one (+n), or a line without the frontend field", () => {
    const tcp = parseRequestLine("1796018409.042 skiff_p_db s1 - 120 0/1/5003 172.30.77.1 tcp");
    assert.deepEqual([tcp?.ms, tcp?.mesh, tcp?.text], [-1, false, "- 120 0/1/5003 172.30.77.1 tcp"]);
    for (const ta of ["-1", "+37"]) assert.deepEqual([parseRequestLine(line("s1", "public", ta))?.ms, parseRequestLine(line("s1", "public", ta))?.text.slice(0, 4)], [-1, "200 "], ta);
    // No response (status -1: the client went away): its Ta still counts.
    assert.equal(parseRequestLine(line("s1", "public", "5", "-1"))?.ms, 5);
    // Written before the frontend was logged (HAProxy not yet reloaded after an upgrade): kept, not counted (it may
    // have come over the mesh).
    const old = parseRequestLine('1796018409.042 skiff_p_web s2 200 13 0/0/1/2/3 172.30.77.1 "GET / HTTP/1.1"');
    assert.deepEqual([old?.server, old?.ms, old?.mesh, old?.text.slice(0, 4)], ["s2", -1, false, "200 "]);
    assert.equal(parseRequestLine("1796018409.042 skiff_p_web s2 public 12"), undefined, "cut short");
  });
});

describe("buckets", () => {
  it("a duration goes in the first bucket whose bound it does not exceed; cumulative series, _sum in seconds, _count", () => {
    const d = new RequestDurations();
    for (const ms of [0, 1, 2, 3, 5, 10_000, 10_001]) d.observe("skiff_p_web", "p", "web", ms);
    const series = d.series("m1", () => true);
    assert.deepEqual(buckets(series), { "0.001": 2, "0.0025": 3, "0.005": 5, "0.01": 5, "0.025": 5, "0.05": 5, "0.1": 5, "0.25": 5, "0.5": 5, "1": 5, "2.5": 5, "5": 5, "10": 6, "+Inf": 7 });
    near(series.find((s) => s.name === `${H}_sum`)?.value, 20.012, "sum");
    assert.equal(series.find((s) => s.name === `${H}_count`)?.value, 7);
    assert.deepEqual(series[0]!.labels, { project: "p", app: "web", machine: "m1", le: "0.001" });
    // An app no longer here is dropped (and starts again from 0 should it come back).
    assert.deepEqual(d.series("m1", () => false), []);
    assert.deepEqual(d.series("m1", () => true), []);
  });

  it("counted once: a request that entered on m1 and was handed to m2 adds to m1's count only", () => {
    const log = (machine: string) => {
      const dir = mkdtempSync(join(tmpdir(), `skiff-hist-${machine}-`));
      const store = new Store(dir);
      store.saveState({ project: "p", app: "web", active: 1, instances: [], warm: [], pending: [] });
      const d = new RequestDurations();
      return { d, log: new RequestLog(new LogStore(join(dir, "logs"), () => 1 << 20), store, () => {}, d) };
    };
    const m1 = log("m1");
    const m2 = log("m2");
    // m1: the client's request, sent to its peer slot p1 (m2) and answered in 9 ms; m2: the same request, come in
    // over the mesh, answered by its own instance in 6 ms.
    m1.log.take(`1796018409.042 skiff_p_web p1 public 9 200 13 0/0/1/8/9 172.30.77.1 "GET / HTTP/1.1"`);
    m2.log.take(`1796018409.044 skiff_p_web s1 mesh~ 6 200 13 0/0/0/6/6 172.30.77.11 "GET / HTTP/1.1"`);
    // And one m2 served itself, entered there.
    m2.log.take(`1796018409.050 skiff_p_web s1 public 2 200 13 0/0/0/2/2 172.30.77.1 "GET / HTTP/1.1"`);
    const c1 = m1.d.series("m1", () => true);
    const c2 = m2.d.series("m2", () => true);
    assert.equal(c1.find((s) => s.name === `${H}_count`)?.value, 1);
    assert.equal(c2.find((s) => s.name === `${H}_count`)?.value, 1);
    near(c1.find((s) => s.name === `${H}_sum`)?.value, 0.009, "m1 measures what the client waited for, the hop included");
    near(c2.find((s) => s.name === `${H}_sum`)?.value, 0.002, "m2 counts only what entered there");
    // A backend this agent does not know (no route, an app gone) counts nowhere.
    m1.log.take(`1796018409.060 skiff_no_route <NOSRV> public 0 404 0 0/-1/-1/-1/0 172.30.77.1 "GET /x HTTP/1.1"`);
    assert.equal(m1.d.series("m1", () => true).find((s) => s.name === `${H}_count`)?.value, 1);
    m1.log.close();
    m2.log.close();
  });
});

describe("exposition of a histogram", () => {
  const sample = (machine: string, ms: number[]): Sample => {
    const d = new RequestDurations();
    for (const x of ms) d.observe("skiff_p_web", "p", "web", x);
    return { t: 0, series: d.series(machine, () => true).reverse() };
  };
  it("TYPE histogram, buckets by ascending le (+Inf last) whatever order they came in, then _sum and _count", () => {
    const text = exposition(sample("m1", [3, 40]));
    const lines = text.split("\n");
    assert.equal(lines[1], `# TYPE ${H} histogram`);
    assert.deepEqual(
      lines.slice(2, 18).map((l) => l.replace(/^\S+\{.*le="([^"]+)".*\} /, "$1 ")),
      ["0.001 0", "0.0025 0", "0.005 1", "0.01 1", "0.025 1", "0.05 2", "0.1 2", "0.25 2", "0.5 2", "1 2", "2.5 2", "5 2", "10 2", "+Inf 2", `${H}_sum{app="web",machine="m1",project="p"} 0.043`, `${H}_count{app="web",machine="m1",project="p"} 2`],
    );
    assert.equal(lines[2], `${H}_bucket{app="web",le="0.001",machine="m1",project="p"} 0`);
  });
  it("promtool passes on one machine's and on several merged", () => {
    const one = exposition(sample("m1", [3, 40, 20_000]));
    const r = promtool(one);
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}\n${one}`);
    const merged = mergeExpositions([one, exposition(sample("m2", [1])), exposition(sample("m3", []))]);
    const r2 = promtool(merged);
    assert.equal(r2.status, 0, `${r2.stdout}${r2.stderr}\n${merged}`);
    assert.match(merged, new RegExp(`^${H}_count\\{app="web",machine="m2",project="p"\\} 1$`, "m"));
  });
  it("the sampler adds the apps' histograms (those it has state for) to its sample", async () => {
    const dir = mkdtempSync(join(tmpdir(), "skiff-state-"));
    const store = new Store(dir);
    store.saveState({ project: "shop", app: "web", active: 3, instances: [], warm: [], pending: [] });
    const durations = new RequestDurations();
    durations.observe("skiff_shop_web", "shop", "web", 12);
    durations.observe("skiff_shop_gone", "shop", "gone", 12);
    const stat = readFileSync(new URL("fixtures/haproxy-2.6-show-stat.csv", import.meta.url), "utf8");
    const s = await new MetricsSampler({ store, runtimes: {}, health: new Map(), haproxyStat: async () => stat, durations }).sample();
    assert.equal(s.series.filter((x) => x.name.startsWith(H) && x.labels.app === "web").length, 16);
    assert.equal(s.series.filter((x) => x.labels.app === "gone").length, 0);
    const r = promtool(exposition(s));
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });
});

describe("histogramQuantile", () => {
  // 100 requests: 10 ≤ 5 ms, 20 in (5, 10], 60 in (10, 25], 10 in (25, 50].
  const b = [
    { le: 0.005, count: 10 },
    { le: 0.01, count: 30 },
    { le: 0.025, count: 90 },
    { le: 0.05, count: 100 },
    { le: Infinity, count: 100 },
  ];
  it("linear inside the bucket the rank falls in (the first from 0)", () => {
    near(histogramQuantile(0.5, b), 0.01 + 0.015 * (20 / 60), "p50"); // rank 50: 20 into the 60 of (10, 25] ms
    near(histogramQuantile(0.95, b), 0.025 + 0.025 * (5 / 10), "p95");
    near(histogramQuantile(0.99, b), 0.025 + 0.025 * (9 / 10), "p99");
    near(histogramQuantile(0.05, b), 0.005 * (5 / 10), "p5");
    near(histogramQuantile(0.5, [...b].reverse()), 0.015, "order does not matter");
  });
  it("a rank in +Inf gives the highest finite bound; nothing counted, no +Inf, q out of 0–1 as Prometheus answers", () => {
    assert.equal(histogramQuantile(0.9, [{ le: 0.1, count: 5 }, { le: Infinity, count: 10 }]), 0.1);
    assert.ok(Number.isNaN(histogramQuantile(0.5, [{ le: 0.1, count: 0 }, { le: Infinity, count: 0 }])));
    assert.ok(Number.isNaN(histogramQuantile(0.5, [{ le: 0.1, count: 3 }])));
    assert.equal(histogramQuantile(1.5, b), Infinity);
    assert.equal(histogramQuantile(-1, b), -Infinity);
  });
  it("a count below the one before (read while moving) is taken as equal to it", () => {
    near(histogramQuantile(0.5, [{ le: 0.1, count: 5 }, { le: 0.2, count: 4 }, { le: Infinity, count: 10 }]), 0.1);
  });
});

describe("quantiles over a window of two samples", () => {
  const at = (t: number, ...machines: [string, RequestDurations][]): Sample => ({ t, series: machines.flatMap(([m, d]) => d.series(m, () => true)) });
  it("from the buckets' increase: what came before the window does not count", () => {
    const d = new RequestDurations();
    for (let i = 0; i < 10; i++) d.observe("skiff_p_web", "p", "web", 3);
    const earlier = at(0, ["m1", d]);
    for (let i = 0; i < 9; i++) d.observe("skiff_p_web", "p", "web", 20);
    d.observe("skiff_p_web", "p", "web", 200);
    const w = windowQuantiles(earlier, at(10_000, ["m1", d]), "p", "web");
    assert.equal(w.count, 10);
    near(w.p50, 0.01 + 0.015 * (5 / 9), "p50"); // rank 5 of the 9 in (10, 25] ms
    near(w.p95, 0.1 + 0.15 * 0.5, "p95"); // rank 9.5: half into the one in (100, 250] ms
    near(w.p99, 0.1 + 0.15 * 0.9, "p99");
    assert.deepEqual(windowQuantiles(earlier, earlier, "p", "web"), { count: 0 });
    assert.deepEqual(windowQuantiles(earlier, at(10_000, ["m1", d]), "p", "other"), { count: 0 });
  });
  it("an agent restart (counters lower) counts the later numbers whole; machines add up", () => {
    const before = new RequestDurations();
    for (let i = 0; i < 10; i++) before.observe("skiff_p_web", "p", "web", 3);
    const restarted = new RequestDurations();
    for (let i = 0; i < 4; i++) restarted.observe("skiff_p_web", "p", "web", 4);
    const w = windowQuantiles(at(0, ["m1", before]), at(10_000, ["m1", restarted]), "p", "web");
    assert.equal(w.count, 4);
    near(w.p50, 0.0025 + 0.0025 * (2 / 4), "p50 of the 4 in (2.5, 5] ms");
    // m2 appears in the later sample only (its app started since): all of its counts are the window's.
    const m2 = new RequestDurations();
    m2.observe("skiff_p_web", "p", "web", 4);
    assert.equal(windowQuantiles(at(0, ["m1", before]), at(10_000, ["m1", restarted], ["m2", m2]), "p", "web").count, 5);
  });
  it("skiff top's p95 per app and machine, over the last interval", () => {
    const d = new RequestDurations();
    const earlier = at(0, ["m1", d]);
    for (let i = 0; i < 20; i++) d.observe("skiff_p_web", "p", "web", i < 19 ? 20 : 400);
    const [top] = appsTop("m1", at(10_000, ["m1", d]), earlier);
    near(top?.p95S, 0.01 + 0.015 * (19 / 19), "rank 19 of 20: the top of (10, 25] ms");
    assert.equal(appsTop("m1", at(10_000, ["m1", d]))[0]?.p95S, undefined);
  });
});
