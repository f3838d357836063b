// The history's bound: a fixed-size file whatever is appended, the oldest
// overwritten first, kept across a restart (a new Ring on the same directory),
// values past a slot's room dropped and counted, and a series table that
// outgrows its cap starting the history afresh.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import type { Sample } from "../../src/metrics/catalogue.ts";
import { DEFAULT_RING, Ring, ringFileBytes } from "../../src/metrics/ring.ts";

const sample = (t: number, n = 3, prefix = "i"): Sample => ({
  t,
  series: Array.from({ length: n }, (_, i) => ({ name: "skiff_instance_memory_bytes" as const, labels: { instance: `${prefix}${i}`, machine: "m1" }, value: t * 10 + i })),
});

describe("metrics ring", () => {
  it("the default holds 24 h at 10 s in a 70.8 MB file", () => {
    assert.equal((DEFAULT_RING.slots * 10) / 3600, 24);
    assert.equal(ringFileBytes(DEFAULT_RING), 64 + 8640 * 8192);
  });

  it("never grows past its size: after 3 × its slots, it holds the newest `slots` samples in order", () => {
    const dir = mkdtempSync(join(tmpdir(), "ring-"));
    const opts = { slots: 50, slotBytes: 256, maxSeries: 100 };
    const r = new Ring(dir, opts);
    for (let t = 1; t <= 150; t++) r.append(sample(t));
    assert.equal(statSync(join(dir, "ring.bin")).size, ringFileBytes(opts));
    const all = r.range();
    assert.equal(all.length, 50);
    assert.deepEqual(all.map((s) => s.t), Array.from({ length: 50 }, (_, i) => 101 + i));
    assert.deepEqual(all.at(-1)!.series.map((s) => s.value), [1500, 1501, 1502]);
    assert.deepEqual(r.range(140).map((s) => s.t)[0], 140);
    r.close();
  });

  it("survives a restart: a new Ring on the same directory reads the same history and appends after it", () => {
    const dir = mkdtempSync(join(tmpdir(), "ring-"));
    const opts = { slots: 20, slotBytes: 256, maxSeries: 100 };
    const a = new Ring(dir, opts);
    for (let t = 1; t <= 25; t++) a.append(sample(t));
    a.close();
    const b = new Ring(dir, opts);
    assert.deepEqual(b.range().map((s) => s.t), Array.from({ length: 20 }, (_, i) => 6 + i));
    b.append(sample(26));
    assert.deepEqual(b.range().map((s) => s.t).slice(-2), [25, 26]);
    assert.deepEqual(b.range(26)[0]!.series[1], { name: "skiff_instance_memory_bytes", labels: { instance: "i1", machine: "m1" }, value: 261 });
    b.close();
    // Another size is another file: the history starts afresh rather than being misread.
    const c = new Ring(dir, { ...opts, slots: 30 });
    assert.equal(c.range().length, 0);
    c.close();
  });

  it("a step keeps one sample per step (a day's chart), with the same values as the whole range", () => {
    const r = new Ring(mkdtempSync(join(tmpdir(), "ring-")), { slots: 100, slotBytes: 256, maxSeries: 100 });
    for (let t = 10; t <= 600; t += 10) r.append(sample(t));
    const stepped = r.range(0, () => true, 60);
    assert.deepEqual(stepped.map((s) => s.t), [10, 70, 130, 190, 250, 310, 370, 430, 490, 550]);
    assert.deepEqual(stepped[3], r.range().find((s) => s.t === 190));
    assert.deepEqual(r.range(300, () => true, 100).map((s) => s.t), [300, 400, 500, 600]);
  });

  it("a sample larger than a slot keeps what fits and says how many values it dropped", () => {
    const r = new Ring(mkdtempSync(join(tmpdir(), "ring-")), { slots: 4, slotBytes: 10 + 5 * 10, maxSeries: 100 });
    assert.equal(r.capacity, 5);
    assert.equal(r.append(sample(1, 8)), 3);
    assert.equal(r.range()[0]!.series.length, 5);
  });

  it("past maxSeries names, the history starts afresh (instances of long-gone releases do not pile up)", () => {
    const r = new Ring(mkdtempSync(join(tmpdir(), "ring-")), { slots: 10, slotBytes: 512, maxSeries: 6 });
    r.append(sample(1, 4, "a"));
    r.append(sample(2, 4, "a"));
    r.append(sample(3, 4, "b"));
    assert.deepEqual(r.range().map((s) => s.t), [3]);
    assert.equal(r.range()[0]!.series[0]!.labels.instance, "b0");
  });

  it("a series is the same whatever order its labels come in; after a fresh start, the old series get their new ids", () => {
    const dir = mkdtempSync(join(tmpdir(), "ring-"));
    const r = new Ring(dir, { slots: 10, slotBytes: 512, maxSeries: 6 });
    const m = (t: number, labels: Record<string, string>) => ({ t, series: [{ name: "skiff_instance_up" as const, labels, value: t }] });
    r.append(m(1, { instance: "x", machine: "m1" }));
    r.append(m(2, { machine: "m1", instance: "x" }));
    assert.deepEqual(JSON.parse(readFileSync(join(dir, "series.json"), "utf8")), ['skiff_instance_up{instance="x",machine="m1"}']);
    assert.deepEqual(r.range().map((s) => [s.t, s.series[0]!.labels, s.series[0]!.value]), [[1, { instance: "x", machine: "m1" }, 1], [2, { instance: "x", machine: "m1" }, 2]]);
    // Six other series: past maxSeries, the table starts afresh and "x" (seen before, under id 0) is new again.
    r.append(sample(3, 6, "b"));
    r.append(m(4, { machine: "m1", instance: "x" }));
    assert.deepEqual(r.range().map((s) => s.t), [4]);
    assert.deepEqual(r.range()[0]!.series, [{ name: "skiff_instance_up", labels: { instance: "x", machine: "m1" }, value: 4 }]);
  });

  it("filters series by key", () => {
    const r = new Ring(mkdtempSync(join(tmpdir(), "ring-")), { slots: 10, slotBytes: 512, maxSeries: 60 });
    r.append(sample(1, 3));
    assert.deepEqual(r.range(0, (k) => k.includes('instance="i2"'))[0]!.series.map((s) => s.value), [12]);
  });
});
