import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AlertFacts } from "../../src/agent/alert-facts.ts";
import type { Sample, Series } from "../../src/metrics/catalogue.ts";

const rules = { errorRate: { above: 0.05, forMs: 0, windowMs: 60_000, minRequests: 1 }, restarts: { above: 3, withinMs: 120_000 } };
const l = { project: "shop", app: "web", machine: "m1" };
const sample = (t: number, req: number, err: number, restarts: Record<string, number>, more: Series[] = []): Sample => ({
  t,
  series: [
    { name: "skiff_app_http_requests_total", labels: l, value: req },
    { name: "skiff_app_http_responses_total", labels: { ...l, code: "5xx" }, value: err },
    { name: "skiff_app_http_responses_total", labels: { ...l, code: "2xx" }, value: req - err },
    ...Object.entries(restarts).map(([instance, v]) => ({ name: "skiff_instance_restarts_total" as const, labels: { ...l, instance, release: "1" }, value: v })),
    { name: "skiff_machine_disk_total_bytes", labels: { machine: "m1", path: "/" }, value: 1000 },
    { name: "skiff_machine_disk_free_bytes", labels: { machine: "m1", path: "/" }, value: 250 },
    { name: "skiff_machine_disk_total_bytes", labels: { machine: "m1", path: "/var/lib/skiff" }, value: 1000 },
    { name: "skiff_machine_disk_free_bytes", labels: { machine: "m1", path: "/var/lib/skiff" }, value: 250 },
    { name: "skiff_machine_memory_total_bytes", labels: { machine: "m1" }, value: 100 },
    { name: "skiff_machine_memory_available_bytes", labels: { machine: "m1" }, value: 40 },
    ...more,
  ],
});

describe("alert facts", () => {
  it("counts within each rule's window, per instance, and a reset counter as new", () => {
    const f = new AlertFacts(() => "m1");
    assert.equal(f.facts("shop", rules), undefined);
    for (let i = 0; i <= 12; i++) f.observe(sample(i * 10_000, 100 * i, 10 * i, { "web-1": i < 6 ? 1 : 4 }));
    const a = f.facts("shop", rules)!;
    // 60 s window: samples at 60 s and 120 s.
    assert.deepEqual({ ...a.apps.web, latency: undefined }, { requests: 600, errors: 60, windowMs: 60_000, restarts: { "web-1": 3 }, oomKills: {}, latency: undefined });
    assert.deepEqual(a.disk, [{ path: "/", used: 0.75 }], "one filesystem under two paths is one subject");
    assert.equal(a.memoryUsed, 0.6);
    // HAProxy restarted: its counters start again from 0.
    f.observe(sample(130_000, 50, 5, { "web-1": 4, "web-2": 2 }));
    const b = f.facts("shop", rules)!;
    assert.equal(b.apps.web!.requests, 50);
    assert.equal(b.apps.web!.errors, 5);
    // web-2 started inside the window: all its restarts count.
    assert.deepEqual(b.apps.web!.restarts, { "web-1": 3, "web-2": 2 });
    assert.deepEqual(f.facts("blog", rules)!.apps, {});
  });

  it("the newest whole-command record per app", () => {
    const f = new AlertFacts(() => "m1");
    f.observe(sample(0, 0, 0, { "web-1": 0 }));
    const e = { machine: "m1", project: "shop", app: "web", release: 3, summary: true };
    f.command({ ...e, at: "2026-11-30T10:00:00Z", action: "deploy", result: "failed", reason: "health" });
    f.command({ ...e, at: "2026-11-30T09:00:00Z", action: "deploy", result: "ok" });
    f.command({ ...e, at: "2026-11-30T11:00:00Z", action: "deploy", result: "ok", summary: false });
    assert.deepEqual(f.facts("shop", rules)!.lastCommand, { web: { at: "2026-11-30T10:00:00Z", action: "deploy", result: "failed", release: 3, reason: "health" } });
    // An app whose first deploy failed has no instance and no series here: its record still counts.
    f.command({ ...e, app: "api", release: 1, at: "2026-11-30T10:05:00Z", action: "deploy", result: "failed" });
    assert.equal(f.facts("shop", rules)!.lastCommand.api?.result, "failed");
  });

  it("the newest backup run per service, only while it has backups configured", () => {
    const configured = new Set(["shop/db", "shop/cache"]);
    const f = new AlertFacts(() => "m1", undefined, (project, app) => configured.has(`${project}/${app}`));
    f.observe(sample(0, 0, 0, { "web-1": 0 }));
    const e = { machine: "m1", project: "shop", release: 1, action: "backup" as const };
    f.command({ ...e, app: "db", at: "2026-11-30T10:00:00Z", result: "failed", reason: "target down" });
    f.command({ ...e, app: "db", at: "2026-11-30T09:00:00Z", result: "ok" });
    f.command({ ...e, app: "cache", at: "2026-11-30T10:00:00Z", result: "failed", reason: "target down" });
    assert.deepEqual(Object.keys(f.facts("shop", rules)!.lastBackup ?? {}).sort(), ["cache", "db"]);
    assert.equal(f.facts("shop", rules)!.lastBackup!.db!.result, "failed", "the newest run, whatever order they are told in");
    // A good run after it: the newest run is good; the failure is kept beside it (a round may not have seen it).
    f.command({ ...e, app: "db", at: "2026-11-30T10:00:08Z", result: "ok" });
    const db = f.facts("shop", rules)!.lastBackup!.db!;
    assert.deepEqual({ ...db, lastFailure: { ...db.lastFailure, agoMs: undefined } }, { at: "2026-11-30T10:00:08Z", result: "ok", lastFailure: { at: "2026-11-30T10:00:00Z", reason: "target down", agoMs: undefined } });
    // How long ago, by this machine's clock.
    assert.ok(Math.abs(db.lastFailure!.agoMs! - (Date.now() - Date.parse("2026-11-30T10:00:00Z"))) < 5000);
    // An older failure told late does not replace the newer one.
    f.command({ ...e, app: "db", at: "2026-11-30T08:00:00Z", result: "failed", reason: "older" });
    assert.equal(f.facts("shop", rules)!.lastBackup!.db!.lastFailure!.reason, "target down");
    // cache's backups taken out of skiff.yml: its last failed run raises nothing any more.
    configured.delete("shop/cache");
    assert.deepEqual(Object.keys(f.facts("shop", rules)!.lastBackup ?? {}), ["db"]);
  });
});
