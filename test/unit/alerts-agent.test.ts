// The agent's alert rounds on one machine (no peers: it leads), with a real
// HTTP receiver on loopback that refuses at first: the event is retried until
// delivered, once, and the ledger on disk says so; a command receiver gets the
// JSON on stdin; a receiver taken out of skiff.yml is not sent to.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, statSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { AlertFacts } from "../../src/agent/alert-facts.ts";
import { Alerts } from "../../src/agent/alerts.ts";
import type { AlertsConfig, Ledger } from "../../src/contracts/alerts.ts";
import type { Sample } from "../../src/metrics/catalogue.ts";

const disk = (t: number, free: number): Sample => ({
  t,
  series: [
    { name: "skiff_machine_disk_total_bytes", labels: { machine: "m1", path: "/" }, value: 1000 },
    { name: "skiff_machine_disk_free_bytes", labels: { machine: "m1", path: "/" }, value: free },
  ],
});

describe("alert rounds on one machine", () => {
  const got: { status: string; key: string }[] = [];
  let refuse = 2;
  let port = 0;
  const server = createServer((q, s) => {
    let b = "";
    q.on("data", (c) => (b += c));
    q.on("end", () => {
      if (refuse > 0) {
        refuse--;
        s.writeHead(503).end("busy");
        return;
      }
      got.push(JSON.parse(b));
      s.end("ok");
    });
  });
  before(async () => {
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as { port: number }).port;
  });
  after(() => server.close());

  it("retries a refused webhook until it takes the event, once; resolves once; the ledger is kept 0600", async () => {
    const dir = mkdtempSync(join(tmpdir(), "skiff-alerts-"));
    const facts = new AlertFacts(() => "m1");
    const logs: string[] = [];
    const alerts = new Alerts(dir, facts, { files: () => ({ crt: "/nonexistent", ca: "/nonexistent" }) }, (s) => logs.push(s));
    const out = join(dir, "command-got.json");
    const cfg: AlertsConfig = {
      project: "shop",
      self: "m1",
      machines: [{ name: "m1" }],
      apps: [],
      rules: { disk: { above: 0.9, forMs: 0 } },
      receivers: [
        { kind: "webhook", url: `http://127.0.0.1:${port}/hook`, format: "json" },
        { kind: "command", argv: ["/bin/sh", "-c", `cat > ${out}`] },
      ],
      intervalMs: 10_000,
    };
    assert.deepEqual(alerts.set(cfg), { changed: true });
    assert.deepEqual(alerts.set(cfg), { changed: false });
    assert.equal(statSync(join(dir, "shop.config.json")).mode & 0o777, 0o600);
    let now = 1_000_000;
    facts.observe(disk(now, 10));
    await alerts.round("shop", now);
    // The first try was refused; the command took it.
    let l = alerts.ledger("shop");
    assert.equal(l.events.length, 1);
    const [hook, cmd] = l.events[0]!.deliveries;
    assert.equal(hook!.deliveredAt, undefined);
    assert.match(hook!.error!, /^http:\/\/127\.0\.0\.1:\d+ answered 503: busy$/);
    assert.equal(hook!.nextAt, now + 10_000);
    assert.ok(cmd!.deliveredAt);
    assert.equal(JSON.parse(readFileSync(out, "utf8")).key, "disk/m1/");
    // Not due yet: no try.
    await alerts.round("shop", now + 5_000);
    assert.equal(alerts.ledger("shop").events[0]!.deliveries[0]!.attempts, 1);
    now += 10_000;
    await alerts.round("shop", now); // refused again: next in 20 s
    assert.equal(alerts.ledger("shop").events[0]!.deliveries[0]!.nextAt, now + 20_000);
    now += 20_000;
    await alerts.round("shop", now);
    assert.deepEqual(got.map((g) => [g.status, g.key]), [["firing", "disk/m1/"]]);
    // Rounds go on: nothing is sent twice.
    for (let i = 0; i < 3; i++) await alerts.round("shop", (now += 10_000));
    assert.equal(got.length, 1);
    facts.observe(disk(now, 500));
    await alerts.round("shop", (now += 10_000));
    assert.deepEqual(got.map((g) => g.status), ["firing", "resolved"]);
    l = JSON.parse(readFileSync(join(dir, "shop.ledger.json"), "utf8")) as Ledger;
    assert.equal(statSync(join(dir, "shop.ledger.json")).mode & 0o777, 0o600);
    assert.deepEqual(l.active, {});
    assert.deepEqual(l.events.map((e) => [e.status, e.deliveries.every((d) => d.deliveredAt !== undefined)]), [["firing", true], ["resolved", true]]);
    assert.ok(logs.some((s) => /receiver 1 failed \(try 1\): http:\/\/127\.0\.0\.1:\d+ answered 503/.test(s)));
    assert.ok(!logs.some((s) => s.includes("/hook")), "the webhook's path is never logged");
    // A new agent on the same directory picks the ledger up.
    const again = new Alerts(dir, new AlertFacts(() => "m1"), { files: () => ({ crt: "/x", ca: "/x" }) }, () => {});
    assert.equal(again.ledger("shop").version, alerts.ledger("shop").version);
    assert.deepEqual(again.view("shop").config?.receivers, [`webhook 127.0.0.1:${port}`, "command /bin/sh"]);
  });

  it("an event owed to a receiver taken out of skiff.yml is given up, not sent", async () => {
    const dir = mkdtempSync(join(tmpdir(), "skiff-alerts-"));
    const facts = new AlertFacts(() => "m1");
    const alerts = new Alerts(dir, facts, { files: () => ({ crt: "/x", ca: "/x" }) }, () => {});
    const cfg: AlertsConfig = { project: "shop", self: "m1", machines: [{ name: "m1" }], apps: [], rules: { disk: { above: 0.9, forMs: 0 } }, receivers: [{ kind: "webhook", url: "http://127.0.0.1:9/none", format: "slack" }], intervalMs: 10_000 };
    alerts.set(cfg);
    facts.observe(disk(1_000_000, 10));
    await alerts.round("shop", 1_000_000);
    assert.equal(alerts.ledger("shop").events[0]!.deliveries[0]!.deliveredAt, undefined);
    alerts.set({ ...cfg, receivers: [{ kind: "webhook", url: `http://127.0.0.1:${port}/other`, format: "json" }] });
    await alerts.round("shop", 1_100_000);
    const d = alerts.ledger("shop").events[0]!.deliveries[0]!;
    assert.equal(d.gaveUp, true);
    assert.equal(d.error, "the receiver is no longer in skiff.yml");
  });
});
