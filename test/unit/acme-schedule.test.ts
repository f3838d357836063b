// Who orders a tls: auto certificate and when (memo §4): rank by name, due at a
// third of the lifetime left, pull before ordering, rank r waits r × L/12.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decide, dueAt, rankOf } from "../../src/agent/acme-schedule.ts";

const DAY = 86_400_000;
const lets = { notBefore: 0, notAfter: 90 * DAY }; // Let's Encrypt: 90 days

describe("ACME renewal schedule", () => {
  it("rank is the position by name among the host's machines, capped at 3", () => {
    assert.equal(rankOf("m1", ["m2", "m3"]), 0);
    assert.equal(rankOf("m3", ["m1", "m2"]), 2);
    assert.equal(rankOf("m9", ["m1", "m2", "m3", "m4", "m5"]), 3);
  });

  it("due at 30 days left of 90; pull first; rank 0 orders at once, rank 1 after 7.5 days, rank 2 after 15", () => {
    assert.equal(dueAt(lets), 60 * DAY);
    assert.deepEqual(decide({ now: 59 * DAY, cert: lets, rank: 0, noCertGraceMs: 600_000 }), { action: "wait", until: 60 * DAY });
    assert.deepEqual(decide({ now: 60 * DAY, cert: lets, rank: 0, noCertGraceMs: 600_000 }), { action: "pull" });
    assert.equal(decide({ now: 60 * DAY, cert: lets, rank: 0, dueSince: 60 * DAY, noCertGraceMs: 600_000 }).action, "order");
    assert.deepEqual(decide({ now: 61 * DAY, cert: lets, rank: 1, dueSince: 60 * DAY, noCertGraceMs: 600_000 }), { action: "wait", until: 67.5 * DAY });
    const r1 = decide({ now: 67.5 * DAY, cert: lets, rank: 1, dueSince: 60 * DAY, noCertGraceMs: 600_000 });
    assert.deepEqual(r1, { action: "order", reason: `${22.5 * 86400} s left, rank 1, due for ${7.5 * 86400} s` });
    assert.deepEqual(decide({ now: 70 * DAY, cert: lets, rank: 2, dueSince: 60 * DAY, noCertGraceMs: 600_000 }), { action: "wait", until: 75 * DAY });
  });

  it("no certificate: due at once; the grace between ranks is the set one", () => {
    assert.deepEqual(decide({ now: 1000, rank: 1, noCertGraceMs: 600_000 }), { action: "pull" });
    assert.deepEqual(decide({ now: 1000, rank: 1, dueSince: 1000, noCertGraceMs: 600_000 }), { action: "wait", until: 601_000 });
    assert.deepEqual(decide({ now: 601_000, rank: 1, dueSince: 1000, noCertGraceMs: 600_000 }), { action: "order", reason: "no certificate, rank 1, due for 600 s" });
  });
});
