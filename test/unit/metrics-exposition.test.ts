// The Prometheus text exposition: HELP and TYPE once per metric, labels
// escaped, summaries as _sum/_count; a whole sample as the agent takes it (real
// /proc, HAProxy 2.6's captured `show stat`, deploys from history) passes
// `promtool check metrics` (Debian's prometheus package), and the scrape
// config `skiff metrics --prometheus-config` prints passes `promtool check config`.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { prometheusConfig } from "../../src/api/metrics.ts";
import type { Project } from "../../src/config/model.ts";
import { UserError } from "../../src/errors.ts";
import { parseSeriesKey, seriesKey } from "../../src/metrics/catalogue.ts";
import { exposition, mergeExpositions, projectOrMachine } from "../../src/metrics/exposition.ts";
import { MetricsSampler } from "../../src/agent/metrics-sampler.ts";
import { DeployTally } from "../../src/agent/metrics-deploys.ts";
import { Store } from "../../src/agent/store.ts";
import { Ring } from "../../src/metrics/ring.ts";

const PROMTOOL = "/usr/bin/promtool";
const STAT = readFileSync(new URL("fixtures/haproxy-2.6-show-stat.csv", import.meta.url), "utf8");

function promtool(args: string[], input?: string) {
  const r = spawnSync(PROMTOOL, args, { input, encoding: "utf8" });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

async function realSample() {
  const dir = mkdtempSync(join(tmpdir(), "skiff-state-"));
  const store = new Store(dir);
  store.appendHistory({ at: "2026-11-30T06:00:00.000Z", machine: "m1", project: "shop", app: "web", release: 3, action: "deploy", result: "ok", durationMs: 4200 });
  store.appendHistory({ at: "2026-11-30T06:05:00.000Z", machine: "m1", project: "shop", app: "web", release: 4, action: "deploy", result: "failed", durationMs: 10_000, reason: 'health "quoted"\nline' });
  store.appendHistory({ at: "2026-11-30T06:05:00.000Z", machine: "m1", project: "shop", app: "web", release: 4, action: "deploy", result: "ok", durationMs: 99_000, summary: true });
  // The sampler names backends, and keeps deploy series, for the apps it has state for.
  store.saveState({ project: "shop", app: "web", active: 3, instances: [], warm: [], pending: [] });
  store.appendHistory({ at: "2026-11-30T06:05:00.000Z", machine: "m1", project: "gone", app: "web", release: 1, action: "deploy", result: "ok", durationMs: 1 });
  const sampler = new MetricsSampler({ store, runtimes: {}, health: new Map(), haproxyStat: async () => STAT });
  return { sample: await sampler.sample(), store };
}

describe("exposition", () => {
  it("HELP and TYPE once per metric, escaped label values, numbers as Prometheus writes them", () => {
    const text = exposition({
      t: 0,
      series: [
        { name: "skiff_instance_memory_bytes", labels: { instance: 'a"b\\c\nd', machine: "m1" }, value: 1.5e9 },
        { name: "skiff_instance_memory_bytes", labels: { instance: "x", machine: "m1" }, value: NaN },
        { name: "skiff_deploy_duration_seconds_sum", labels: { app: "web" }, value: 4.2 },
        { name: "skiff_deploy_duration_seconds_count", labels: { app: "web" }, value: 1 },
      ],
    });
    assert.equal(
      text,
      [
        "# HELP skiff_instance_memory_bytes Memory used by the instance, without the inactive page cache (its cgroup).",
        "# TYPE skiff_instance_memory_bytes gauge",
        'skiff_instance_memory_bytes{instance="a\\"b\\\\c\\nd",machine="m1"} 1500000000',
        'skiff_instance_memory_bytes{instance="x",machine="m1"} NaN',
        "# HELP skiff_deploy_duration_seconds Time of those activations on this machine.",
        "# TYPE skiff_deploy_duration_seconds summary",
        'skiff_deploy_duration_seconds_count{app="web"} 1',
        'skiff_deploy_duration_seconds_sum{app="web"} 4.2',
        "",
      ].join("\n"),
    );
    assert.deepEqual(parseSeriesKey(seriesKey({ name: "skiff_app_queue", labels: { b: 'q"\\\n', a: "1" } })), { name: "skiff_app_queue", labels: { a: "1", b: 'q"\\\n' } });
  });

  it("a project's view keeps its series and the machine's, not another project's", () => {
    const keep = projectOrMachine("shop");
    assert.equal(keep({ machine: "m1" }), true);
    assert.equal(keep({ project: "shop", app: "web" }), true);
    assert.equal(keep({ project: "blog", app: "web" }), false);
  });

  it("a real sample passes `promtool check metrics`", async () => {
    const { sample } = await realSample();
    const text = exposition(sample);
    for (const m of ["skiff_machine_cpu_seconds_total", "skiff_machine_disk_inodes_free", "skiff_deploys_total", "skiff_agent_resident_memory_bytes"]) assert.match(text, new RegExp(`^# TYPE ${m} `, "m"));
    // The whole command's summary record is not counted again: one ok and one failed activation here.
    assert.match(text, /^skiff_deploys_total\{action="deploy",app="web",machine="unknown",project="shop",result="ok"\} 1$/m);
    assert.match(text, /^skiff_deploy_duration_seconds_sum\{action="deploy",app="web",machine="unknown",project="shop",result="failed"\} 10$/m);
    assert.doesNotMatch(text, /project="gone"/, "an app no longer on this machine has no deploy series");
    const r = promtool(["check", "metrics"], text);
    assert.equal(r.code, 0, `${r.out}\n---\n${text}`);
  });

  it("app series from HAProxy's backend of an app with state here, and they pass promtool too", async () => {
    const { sample } = await realSample();
    const text = exposition(sample);
    assert.match(text, /^skiff_app_http_responses_total\{app="web",code="2xx",machine="unknown",project="shop"\} 20$/m);
    assert.match(text, /^skiff_app_release\{app="web",machine="unknown",project="shop"\} 3$/m);
    const r = promtool(["check", "metrics"], text);
    assert.equal(r.code, 0, `${r.out}\n---\n${text}`);
  });

  it("deploy tally: reads history as it grows, from where it stopped", () => {
    const dir = mkdtempSync(join(tmpdir(), "skiff-state-"));
    const store = new Store(dir);
    const t = new DeployTally(dir);
    t.catchUp();
    assert.deepEqual(t.series("m1"), []);
    store.appendHistory({ at: "2026-11-30T06:00:00.000Z", machine: "m1", project: "p", app: "a", release: 1, action: "rollback", result: "ok", durationMs: 1000 });
    store.appendHistory({ at: "2026-11-30T06:00:00.000Z", machine: "m1", project: "p", app: "a", release: 1, action: "restart", result: "ok" });
    t.catchUp();
    t.catchUp();
    const total = t.series("m1").filter((s) => s.name === "skiff_deploys_total");
    assert.deepEqual(total, [{ name: "skiff_deploys_total", labels: { project: "p", app: "a", action: "rollback", result: "ok", machine: "m1" }, value: 1 }]);
  });
});

describe("prometheus config", () => {
  const project = (metrics?: Project["metrics"], environment?: string): Project =>
    ({
      name: "shop",
      environment,
      machines: {
        m1: { name: "m1", privateAddress: "10.0.0.1" },
        m2: { name: "m2", privateAddress: "fd00::2" },
        m3: { name: "m3" },
      },
      apps: {},
      metrics,
    }) as unknown as Project;

  it("targets the private addresses on the metrics port, names what is left out, and passes `promtool check config`", () => {
    const text = prometheusConfig(project({ port: 9465, allow: ["10.0.0.9"] }, "prod"));
    assert.match(text, /job_name: "skiff-shop-prod"/);
    assert.match(text, /targets: \["10\.0\.0\.1:9465", "\[fd00::2\]:9465"\]/);
    assert.match(text, /no private_address\): m3/);
    const dir = mkdtempSync(join(tmpdir(), "promcfg-"));
    writeFileSync(join(dir, "prometheus.yml"), text);
    const r = promtool(["check", "config", join(dir, "prometheus.yml")]);
    assert.equal(r.code, 0, r.out);
  });

  it("without metrics.listen: a UserError that says what to add", () => {
    assert.throws(() => prometheusConfig(project(undefined)), (e: Error) => e instanceof UserError && /listen: true/.test((e as UserError).hint ?? ""));
  });
});

describe("several machines' expositions as one", () => {
  it("each metric's HELP and TYPE once, every machine's series under them; promtool passes", async () => {
    const { sample } = await realSample();
    const m1 = exposition({ t: 0, series: sample.series.map((s) => ({ ...s, labels: { ...s.labels, machine: "m1" } })) });
    const m2 = exposition({ t: 0, series: sample.series.map((s) => ({ ...s, labels: { ...s.labels, machine: "m2" } })) });
    const merged = mergeExpositions([m1, m2]);
    assert.equal(merged.match(/^# TYPE skiff_machine_cpus gauge$/gm)?.length, 1);
    assert.equal(merged.match(/^skiff_machine_cpus\{/gm)?.length, 2);
    assert.equal(merged.split("\n").filter((l) => l && !l.startsWith("#")).length, m1.split("\n").filter((l) => l && !l.startsWith("#")).length * 2);
    const r = promtool(["check", "metrics"], merged);
    assert.equal(r.code, 0, r.out);
  });
});

describe("sampler", () => {
  it("kept samples go into the ring at the fixed interval; a scrape's fresh sample does not, and is reused for a second", async () => {
    const dir = mkdtempSync(join(tmpdir(), "skiff-state-"));
    const store = new Store(dir);
    let clock = 1_000_000;
    let asked = 0;
    const ring = new Ring(join(dir, "metrics"), { slots: 10, slotBytes: 4096, maxSeries: 1000 });
    const sampler = new MetricsSampler({ store, runtimes: {}, health: new Map(), haproxyStat: async () => (asked++, STAT), ring, now: () => clock });
    await sampler.sample();
    clock += 10_000;
    await sampler.sample();
    assert.equal(ring.size, 2);
    assert.equal(sampler.previous!.t, 1_000_000);
    clock += 500;
    const a = await sampler.current();
    assert.equal(a.t, 1_010_000, "the kept sample is young enough");
    clock += 1000;
    const b = await sampler.current();
    assert.equal(b.t, 1_011_500, "older than a second: a new one");
    assert.equal(await sampler.current(), b);
    assert.equal(ring.size, 2, "fresh samples stay out of the history");
    assert.equal(sampler.latest!.t, 1_010_000, "top's rates stay on the kept samples");
    assert.equal(asked, 3);
  });

  it("a scrape right after a state write (a deploy that just ended here) is not answered with a sample that read the state before it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "skiff-state-"));
    const store = new Store(dir);
    const clock = 2_000_000;
    // The sample under way reads the state, then waits on HAProxy while the deploy writes its new state.
    let release: () => void = () => {};
    let slow = true;
    const sampler = new MetricsSampler({ store, runtimes: {}, health: new Map(), haproxyStat: () => (slow ? new Promise<string>((ok) => (release = () => ok(STAT))) : Promise.resolve(STAT)), now: () => clock });
    const under = sampler.sample();
    await new Promise((ok) => setImmediate(ok));
    store.saveState({ project: "shop", app: "web", active: 7, instances: [], warm: [], pending: [] });
    slow = false;
    release();
    const old = await under;
    assert.ok(!old.series.some((x) => x.name === "skiff_app_release"), "the kept sample read the state before the write");
    const now = await sampler.current();
    assert.notEqual(now, old);
    assert.ok(now.series.some((x) => x.name === "skiff_app_release" && x.value === 7), "the scrape sees the new release");
    // Nothing written since: the young sample is reused.
    assert.equal(await sampler.current(), now);
  });
});

describe("deploy tally over a long history", () => {
  it("reads it in pieces, a record cut between two pieces included", () => {
    const dir = mkdtempSync(join(tmpdir(), "skiff-state-"));
    const line = (i: number) => JSON.stringify({ at: "2026-11-30T06:00:00.000Z", machine: "m1", project: "p", app: "a", release: i, action: "deploy", result: "ok", durationMs: 1000, reason: "x".repeat(i % 300) });
    writeFileSync(join(dir, "history.jsonl"), Array.from({ length: 3000 }, (_, i) => line(i)).join("\n") + "\n");
    const t = new DeployTally(dir);
    t.catchUp();
    assert.equal(t.series("m1").find((s) => s.name === "skiff_deploys_total")!.value, 3000);
  });
});
