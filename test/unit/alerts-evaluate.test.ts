import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { emptyLedger, receiverId, type AppFacts, type Ledger, type MachineFacts } from "../../src/contracts/alerts.ts";
import { bound, evaluate, MAX_EVENTS, type Round } from "../../src/alerts/evaluate.ts";
import { alertPayload, slackText } from "../../src/alerts/message.ts";

const machines = [{ name: "m1", addr: "10.0.0.1" }, { name: "m2", addr: "10.0.0.2" }, { name: "m3", addr: "10.0.0.3" }];
const rules = {
  errorRate: { above: 0.05, forMs: 20_000, windowMs: 60_000, minRequests: 20 },
  restarts: { above: 3, withinMs: 600_000 },
  disk: { above: 0.9, forMs: 10_000 },
  machineDown: { forMs: 30_000 },
  deployFailed: {},
};
const cfg = { rules, machines, self: "m1", receivers: [{ kind: "webhook" as const, url: "http://10.0.0.3:9000/", format: "json" as const }], apps: ["web"] };
const app = (requests: number, errors: number, extra: Partial<AppFacts> = {}): AppFacts => ({ requests, errors, windowMs: 60_000, restarts: {}, oomKills: {}, ...extra });
const facts = (machine: string, a: Record<string, AppFacts>, more: Partial<MachineFacts> = {}): MachineFacts => ({ machine, t: 0, disk: [{ path: "/", used: 0.5 }], memoryUsed: 0.3, apps: a, lastCommand: {}, ...more });

/** Rounds at t = 0, 10 s, 20 s …, each with the facts the function gives; returns every event and the last ledger. */
function run(rounds: ((t: number) => Pick<Round, "facts" | "missing">)[], start: Ledger = emptyLedger(), by = "m1") {
  let ledger = start;
  const events = [];
  for (let i = 0; i < rounds.length; i++) {
    const now = 1_000_000 + i * 10_000;
    const r = evaluate({ cfg: { ...cfg, self: by }, now, ...rounds[i]!(now) }, ledger, by);
    ledger = r.ledger;
    events.push(...r.events.map((e) => ({ i, status: e.status, key: e.key, summary: e.summary })));
  }
  return { events, ledger };
}

const healthy = () => ({ facts: ["m1", "m2", "m3"].map((m) => facts(m, { web: app(100, 0) })), missing: {} });
const failing = () => ({ facts: ["m1", "m2", "m3"].map((m) => facts(m, { web: app(100, 50) })), missing: {} });

describe("alert evaluation", () => {
  it("an app's error rate fires once after `for`, then resolves once", () => {
    const { events, ledger } = run([healthy, failing, failing, failing, failing, failing, healthy, healthy]);
    assert.deepEqual(events.map((e) => [e.i, e.status, e.key]), [[3, "firing", "error_rate/web"], [6, "resolved", "error_rate/web"]]);
    assert.match(events[0]!.summary, /^web: 50% of requests failed \(5xx\) over 1m: 150 of 300 \(threshold 5%\)$/);
    assert.match(events[1]!.summary, /resolved after 30s/);
    assert.deepEqual([ledger.events[0]!.value, ledger.events[1]!.value], [0.5, 0]);
    assert.deepEqual(ledger.active, {});
    assert.equal(ledger.events.length, 2);
    assert.deepEqual(ledger.events[0]!.deliveries, [{ receiver: receiverId(cfg.receivers[0]!), attempts: 0 }]);
  });

  it("too few requests never fire, and a round with no news keeps the ledger's version", () => {
    const few = () => ({ facts: [facts("m1", { web: app(10, 10) })], missing: {} });
    const { events, ledger } = run([few, few, few, few, few]);
    assert.deepEqual(events, []);
    assert.equal(ledger.version, 0);
  });

  it("a machine missed for `for` fires once; its disk alert stays as it was while its facts are missing; it resolves when back", () => {
    const full = () => ({ facts: ["m1", "m2", "m3"].map((m) => facts(m, {}, m === "m2" ? { disk: [{ path: "/var/lib/skiff", used: 0.99 }] } : {})), missing: {} });
    const gone = (since: number) => () => ({ facts: ["m1", "m3"].map((m) => facts(m, {})), missing: { m2: since } });
    const t2 = 1_000_000 + 2 * 10_000;
    const { events } = run([full, full, gone(t2), gone(t2), gone(t2), gone(t2), full, healthy]);
    assert.deepEqual(
      events.map((e) => [e.i, e.status, e.key]),
      [
        [1, "firing", "disk/m2/var/lib/skiff"],
        [5, "firing", "machine_down/m2"],
        [6, "resolved", "machine_down/m2"],
        [7, "resolved", "disk/m2/var/lib/skiff"],
      ],
    );
    assert.match(events[1]!.summary, /^m2: unreachable by its peers since /);
  });

  it("a new leader takes the ledger over: what was sent is not sent again, and it resolves once", () => {
    const first = run([failing, failing, failing, failing], emptyLedger(), "m1");
    assert.equal(first.events.filter((e) => e.status === "firing").length, 1);
    // m1 stops answering; m2 leads with the copy it had: the firing alert is not sent again, m1 is pending.
    const m1gone = () => ({ facts: ["m2", "m3"].map((m) => facts(m, { web: app(100, 50) })), missing: { m1: 970_000 } });
    const second = run([m1gone, m1gone, () => ({ facts: ["m2", "m3"].map((m) => facts(m, { web: app(100, 0) })), missing: { m1: 970_000 } })], first.ledger, "m2");
    assert.deepEqual(second.events.map((e) => [e.status, e.key]), [["firing", "machine_down/m1"], ["resolved", "error_rate/web"]]);
    assert.ok(second.ledger.version > first.ledger.version);
    assert.equal(second.ledger.by, "m2");
  });

  it("a failed deploy fires until a deploy succeeds; a rollback says so", () => {
    const cmd = (at: string, action: string, result: string, release: number) => () => ({ facts: [facts("m1", {}, { lastCommand: { web: { at, action, result, release, by: "ann" } } })], missing: {} });
    const { events } = run([cmd("2026-11-30T10:00:00Z", "deploy", "ok", 3), cmd("2026-11-30T10:01:00Z", "deploy", "failed", 4), cmd("2026-11-30T10:01:00Z", "deploy", "failed", 4), cmd("2026-11-30T10:02:00Z", "rollback", "ok", 2), cmd("2026-11-30T10:03:00Z", "deploy", "ok", 5)]);
    assert.deepEqual(events.map((e) => [e.i, e.status]), [[1, "firing"], [4, "resolved"]]);
    assert.match(events[0]!.summary, /^web: deploy of release 4: failed \(by ann\)$/);
  });

  it("restarts over the threshold across machines fire at once (no `for`)", () => {
    const loop = () => ({ facts: [facts("m1", { web: app(0, 0, { restarts: { "web-1": 2 } }) }), facts("m2", { web: app(0, 0, { restarts: { "web-2": 2 } }) })], missing: {} });
    const { events } = run([loop]);
    assert.equal(events.length, 1);
    assert.match(events[0]!.summary, /^web: 4 instance restart\(s\) within 10m \(web-1 on m1 ×2, web-2 on m2 ×2\); threshold 3$/);
  });

  it("p95 latency over all machines' histograms", () => {
    const cfgL = { ...cfg, rules: { latencyP95: { aboveMs: 500, forMs: 0, windowMs: 60_000, minRequests: 10 } } };
    // m1: 90 fast (≤ 0.1 s); m2: 10 slow in (0.5, 1]: together p95 is rank 95 of 100, half way into (0.5, 1] → 0.75 s.
    const h = (fast: number, slow: number) => [{ le: 0.1, count: fast }, { le: 0.5, count: fast }, { le: 1, count: fast + slow }, { le: Infinity, count: fast + slow }];
    const r = evaluate({ cfg: cfgL, now: 1, missing: {}, facts: [facts("m1", { web: app(90, 0, { latency: h(90, 0) }) }), facts("m2", { web: app(10, 0, { latency: h(0, 10) }) })] }, emptyLedger(), "m1");
    assert.deepEqual(r.events.map((e) => [e.status, e.key, e.value]), [["firing", "latency_p95/web", 0.75]]);
    assert.match(r.events[0]!.summary, /^web: 95th percentile response time 750ms over 1m \(100 requests; threshold 500ms\)$/);
    // Without histograms (request logging off) the rule knows nothing: it neither fires nor resolves.
    const none = evaluate({ cfg: cfgL, now: 2, missing: {}, facts: [facts("m1", { web: app(90, 0) })] }, r.ledger, "m1");
    assert.deepEqual(none.events, []);
    assert.equal(none.ledger.active["latency_p95/web"]?.state, "firing");
  });

  it("a certificate ending within `days` or failing its renewal fires; a renewed one resolves", () => {
    const cfgC = { ...cfg, rules: { certificate: { days: 14 } } };
    const now = Date.parse("2026-11-30T00:00:00Z");
    const c = (notAfter: string, failing?: { since: string; error: string }) => ({ id: "shop_web_shop.example", hosts: ["shop.example"], notAfter, ...(failing ? { failing } : {}) });
    const far = "2027-02-01T00:00:00Z";
    const soon = "2026-12-09T00:00:00Z";
    const ok = evaluate({ cfg: cfgC, now, missing: {}, facts: [facts("m1", {}, { certs: [c(far)] }), facts("m2", {}, { certs: [c(far)] })] }, emptyLedger(), "m1");
    assert.deepEqual(ok.events, []);
    const bad = evaluate({ cfg: cfgC, now, missing: {}, facts: [facts("m1", {}, { certs: [c(soon, { since: "2026-11-29T10:00:00Z", error: "ACME order failed: connection refused" })] }), facts("m2", {}, { certs: [c(soon)] })] }, emptyLedger(), "m1");
    assert.deepEqual(bad.events.map((e) => [e.status, e.key]), [["firing", "certificate/shop.example"]]);
    assert.equal(bad.events[0]!.summary, "shop.example: expires 2026-12-09 (on m1, m2); renewal failing on m1 since 2026-11-29 10:00 UTC: ACME order failed: connection refused");
    const renewed = evaluate({ cfg: cfgC, now, missing: {}, facts: [facts("m1", {}, { certs: [c(far)] }), facts("m2", {}, { certs: [c(far)] })] }, bad.ledger, "m1");
    assert.deepEqual(renewed.events.map((e) => e.status), ["resolved"]);
    assert.match(renewed.events[0]!.summary, /^shop\.example: renewed, ends 2027-02-01/);
  });

  it("an alert whose rule is switched off resolves", () => {
    const first = run([failing, failing, failing, failing]);
    const r = evaluate({ cfg: { ...cfg, rules: { ...rules, errorRate: undefined } }, now: 2_000_000, ...failing() }, first.ledger, "m1");
    assert.deepEqual(r.events.map((e) => [e.status, e.key]), [["resolved", "error_rate/web"]]);
    assert.match(r.events[0]!.summary, /the rule is off/);
  });
});

describe("alert helpers", () => {
  it("bound keeps events owed to a receiver and drops the oldest delivered", () => {
    const ev = (i: number, owed: boolean) => ({ id: `e${i}`, key: "k", rule: "disk" as const, status: "firing" as const, at: i, summary: "", labels: {}, by: "m1", deliveries: [{ receiver: "r", attempts: 1, ...(owed ? {} : { deliveredAt: i }) }] });
    const all = [ev(0, true), ...Array.from({ length: MAX_EVENTS + 10 }, (_, i) => ev(i + 1, false))];
    const kept = bound(all);
    assert.equal(kept.length, MAX_EVENTS);
    assert.equal(kept[0]!.id, "e0");
    assert.equal(kept[kept.length - 1]!.id, `e${MAX_EVENTS + 10}`);
  });

  it("the JSON and Slack bodies", () => {
    const e = { id: "x", key: "error_rate/web", rule: "errorRate" as const, status: "firing" as const, at: Date.UTC(2026, 10, 30), summary: "web: 50% failed", labels: { app: "web" }, value: 0.5, by: "m2", deliveries: [] };
    assert.deepEqual(alertPayload(e, { project: "shop", environment: "prod" }), { version: 1, project: "shop", environment: "prod", status: "firing", rule: "error_rate", key: "error_rate/web", summary: "web: 50% failed", labels: { app: "web" }, value: 0.5, at: "2026-11-30T00:00:00.000Z", id: "x", sentBy: "m2" });
    assert.equal(slackText(e, { project: "shop" }), "[FIRING] shop: web: 50% failed");
  });
});
