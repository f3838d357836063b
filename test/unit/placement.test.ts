import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { place, type MachineCapacity } from "../../src/plan/placement.ts";

const G = 1024 ** 3;
const M = 1024 ** 2;
const machine = (name: string, memG: number, cpus = 2, labels: string[] = [], reservedMemG = 0): MachineCapacity => ({ name, labels, cpus, memoryBytes: memG * G, reserved: { cpus: 0, memoryBytes: reservedMemG * G } });
const three = [machine("m1", 4), machine("m2", 4), machine("m3", 4)];

describe("placement", () => {
  it("spread evens the count out over eligible machines", () => {
    assert.deepEqual(place({ app: "web", instances: 2, labels: [], strategy: "spread", resources: {} }, three), { ok: true, placement: { m1: 1, m2: 1, m3: 0 } });
    assert.deepEqual(place({ app: "web", instances: 5, labels: [], strategy: "spread", resources: {} }, three), { ok: true, placement: { m1: 2, m2: 2, m3: 1 } });
  });

  it("spread prefers the machine with more room when counts tie", () => {
    const r = place({ app: "web", instances: 1, labels: [], strategy: "spread", resources: { memoryBytes: 256 * M } }, [machine("m1", 4, 2, [], 3), machine("m2", 4)]);
    assert.deepEqual(r, { ok: true, placement: { m1: 0, m2: 1 } });
  });

  it("binpack fills the fullest machine that still fits", () => {
    const ms = [machine("m1", 2), machine("m2", 4, 2, [], 1), machine("m3", 8)];
    // m1 has 2 GiB free, m2 3 GiB, m3 8 GiB: 1 GiB instances go to m1 until it is full, then m2.
    assert.deepEqual(place({ app: "db", instances: 4, labels: [], strategy: "binpack", resources: { memoryBytes: G } }, ms), { ok: true, placement: { m1: 2, m2: 2, m3: 0 } });
  });

  it("machines and labels choose the eligible machines", () => {
    const ms = [machine("m1", 4, 2, ["web"]), machine("m2", 4, 2, ["web", "ssd"]), machine("m3", 4, 2, ["ssd"])];
    assert.deepEqual(place({ app: "a", instances: 2, labels: ["ssd"], strategy: "spread", resources: {} }, ms), { ok: true, placement: { m2: 1, m3: 1 } });
    assert.deepEqual(place({ app: "a", instances: 3, machines: ["m1"], labels: [], strategy: "spread", resources: {} }, ms), { ok: true, placement: { m1: 3 } });
    assert.deepEqual(place({ app: "a", instances: 1, labels: ["gpu"], strategy: "spread", resources: {} }, ms), { ok: false, reason: "no machine is eligible for a (labels: [gpu])" });
  });

  it("refuses what does not fit and says what is short where", () => {
    const r = place({ app: "web", instances: 3, labels: [], strategy: "spread", resources: { memoryBytes: 3 * G, cpus: 1 } }, [machine("m1", 4), machine("m2", 4, 2, [], 2)]);
    assert.deepEqual(r, { ok: false, reason: "web needs 3 instances of 3072 MiB and 1 CPU; only 1 fit: m1 (memory: 1024 MiB free, 3072 MiB needed), m2 (memory: 2048 MiB free, 3072 MiB needed)" });
    const c = place({ app: "w", instances: 5, labels: [], strategy: "spread", resources: { cpus: 1 } }, [machine("m1", 4, 2)]);
    assert.equal(c.ok, false);
    assert.match((c as { reason: string }).reason, /only 2 fit: m1 \(cpu: 0 CPU free, 1 CPU needed\)/);
  });

  it("keeps the current placement while it fits and the total is the same", () => {
    assert.deepEqual(place({ app: "web", instances: 2, labels: [], strategy: "spread", resources: {}, current: { m2: 1, m3: 1 } }, three), { ok: true, placement: { m1: 0, m2: 1, m3: 1 } });
    // A new total is placed afresh.
    assert.deepEqual(place({ app: "web", instances: 3, labels: [], strategy: "spread", resources: {}, current: { m2: 1, m3: 1 } }, three), { ok: true, placement: { m1: 1, m2: 1, m3: 1 } });
  });
});
