// The dashboard's pure parts and its HTTP core, in-process over a made-up project (dashboard-fakes.ts): the charts'
// numbers from samples, the views, the token on every path, the Host check, one shared poll for any number of
// pages (and none without a page), and the rollback going through the API with the release the page confirmed.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { History } from "../../src/api/history.ts";
import { LogTails } from "../../src/dashboard/log-tail.ts";
import { Poller } from "../../src/dashboard/poller.ts";
import { dashboardApp, tokenMatches, type Req } from "../../src/dashboard/routes.ts";
import { startDashboard } from "../../src/dashboard/serve.ts";
import { UserError } from "../../src/errors.ts";
import { appChart, grid, machineChart, pairsAt } from "../../src/dashboard/series.ts";
import { appView, markers, overview, type Store } from "../../src/dashboard/views.ts";
import { fakeApi, NOW, sampleAt } from "./dashboard-fakes.ts";

const TOKEN = "t0k3n-abcdefghijklmnopqrstuvwx";
const HOST = "127.0.0.1:4567";

function setup(opts: { intervalMs?: number; idleMs?: number; now?: () => number } = {}) {
  const api = fakeApi({ now: opts.now });
  const poller = new Poller(api, api.project, { intervalMs: opts.intervalMs ?? 60_000, idleMs: opts.idleMs ?? 60_000, now: opts.now ?? (() => NOW) });
  const tails = new LogTails(api, { keep: 10, idleMs: 60_000, intervalMs: 1000, now: () => NOW });
  const assets = new Map([["index.html", { type: "text/html", body: Buffer.from("<!doctype html>page") }]]);
  const app = dashboardApp({ token: TOKEN, assets, poller, tails, api, apps: ["web"], machines: ["m1", "m2"], hosts: () => [HOST, "localhost:4567"], now: () => NOW });
  const req = (url: string, more: Partial<Req> = {}) => app({ method: "GET", url, headers: { host: HOST }, ...more });
  const body = async (url: string, more: Partial<Req> = {}) => JSON.parse(String((await req(url, more)).body)) as Record<string, unknown>;
  return { api, poller, tails, req, body, stop: () => (poller.stop(), tails.stop()) };
}

describe("dashboard charts", () => {
  const byMachine = new Map(["m1", "m2"].map((m) => [m, Array.from({ length: 360 }, (_, i) => sampleAt(m, NOW - 3_600_000 + (i + 1) * 10_000))]));

  it("an app's requests/s, 5xx share and quantiles, all machines together, on a fixed grid", () => {
    const times = grid(NOW - 300_000, NOW, 10_000);
    const c = appChart(byMachine, "shop", "web", times, 10_000);
    assert.equal(c.t.length, 31);
    assert.equal(c.t.at(-1), NOW / 1000);
    // 5/s on each machine; m2 answers 1 in 10 with a 5xx: 0.5 of 10 per s = 5 %.
    assert.deepEqual(new Set(c.lines.rps), new Set([10]));
    assert.deepEqual(new Set(c.lines.errors), new Set([5]));
    // Every request in (10, 25] ms: interpolated inside it as Prometheus does.
    assert.deepEqual([c.lines.p50!.at(-1), c.lines.p95!.at(-1), c.lines.p99!.at(-1)], [17.5, 24.3, 24.9]);
  });

  it("nothing where no sample is (before the first, after a machine went quiet); a counter reset is not a negative rate", () => {
    const times = grid(NOW - 7_200_000, NOW + 180_000, 60_000);
    const c = appChart(byMachine, "shop", "web", times, 60_000);
    assert.equal(c.lines.rps![0], null, "an hour before the first sample");
    assert.equal(c.lines.rps!.at(-1), null, "three minutes after the last (two steps: stale)");
    const reset = new Map([["m1", [sampleAt("m1", NOW - 20_000), sampleAt("m1", NOW - 10_000), sampleAt("m1", NOW, NOW - 5000)]]]);
    const r = appChart(reset, "shop", "web", [NOW], 10_000);
    assert.equal(r.lines.rps![0], 5 * 5 * 0.1, "the restarted counters' 25 requests over the 10 s");
  });

  it("pairs: the sample before when no newer one came within the step", () => {
    const s = [sampleAt("m1", 1000), sampleAt("m1", 11_000), sampleAt("m1", 31_000)];
    const p = pairsAt(s, [10_000, 20_000, 30_000, 40_000], 10_000);
    assert.deepEqual(p.map((x) => x && [x.a.t, x.b.t]), [undefined, [1000, 11_000], [1000, 11_000], [11_000, 31_000]]);
  });

  it("a machine's CPU, memory and disk in %", () => {
    const c = machineChart(byMachine.get("m1")!, "m1", [NOW], 10_000);
    assert.deepEqual(c.lines, { cpu: [25], memory: [25], disk: [40] });
  });

  it("markers: the app's deploys and rollbacks inside the range, failed ones said", () => {
    const h: History = { rows: [
      { app: "web", release: 4, action: "deploy", at: new Date(NOW - 1000).toISOString(), machines: { m1: { result: "failed" } } },
      { app: "web", release: 2, action: "rollback", by: "ana", at: new Date(NOW - 2000).toISOString(), machines: { m1: { result: "ok" } } },
      { app: "api", release: 9, action: "deploy", at: new Date(NOW - 3000).toISOString(), machines: {} },
      { app: "web", release: 1, action: "backup", at: new Date(NOW - 3000).toISOString(), machines: {} },
      { app: "web", release: 1, action: "deploy", at: new Date(NOW - 7_200_000).toISOString(), machines: {} },
    ], unreachable: [], damaged: [] };
    assert.deepEqual(markers(h, "web", NOW - 3_600_000, NOW), [
      { t: NOW - 1000, action: "deploy", release: 4, ok: false },
      { t: NOW - 2000, action: "rollback", release: 2, ok: true, by: "ana" },
    ]);
  });
});

describe("dashboard views and server", () => {
  it("the token is the first part of every path; without it, or with another, a bare 404", async () => {
    const d = setup();
    try {
      assert.equal((await d.req(`/${TOKEN}/`)).status, 200);
      assert.equal(String((await d.req(`/${TOKEN}/`)).body), "<!doctype html>page");
      assert.equal((await d.req(`/${TOKEN}`)).status, 308);
      for (const url of ["/", "/index.html", "/api/project", `/${TOKEN.slice(0, -1)}/`, `/${TOKEN}x/api/project`, `/x/${TOKEN}/`, `/?token=${TOKEN}`]) {
        const r = await d.req(url);
        assert.equal(r.status, 404, url);
        assert.equal(String(r.body), "not found\n");
      }
      assert.equal(d.api.calls.status, 0, "no machine asked for a request without the token");
      assert.equal(tokenMatches(TOKEN, TOKEN), true);
      assert.equal(tokenMatches("", TOKEN), false);
    } finally {
      d.stop();
    }
  });

  it("another Host (a DNS name rebound to 127.0.0.1) is refused; answers are not cached, framed or sniffed", async () => {
    const d = setup();
    try {
      assert.equal((await d.req(`/${TOKEN}/`, { headers: { host: "evil.example:4567" } })).status, 421);
      const r = await d.req(`/${TOKEN}/api/project`);
      assert.equal(r.headers["Cache-Control"], "no-store");
      assert.match(r.headers["Content-Security-Policy"]!, /default-src 'self'/);
      assert.equal(r.headers["X-Frame-Options"], "DENY");
    } finally {
      d.stop();
    }
  });

  it("the project view: machines' numbers, each app's release and instances, the firing alert", async () => {
    const d = setup();
    try {
      const v = await d.body(`/${TOKEN}/api/project`);
      const apps = v.apps as { name: string; release: number; machines: Record<string, { instances: number; healthy: number }>; firing: number }[];
      assert.deepEqual(apps.map((a) => [a.name, a.release, a.machines, a.firing]), [["web", 3, { m1: { instances: 1, healthy: 1 }, m2: { instances: 1, healthy: 1 } }, 1]]);
      const machines = v.machines as { name: string; cpu: number; diskUsed: number }[];
      assert.deepEqual(machines.map((m) => [m.name, m.cpu, m.diskUsed]), [["m1", 0.25, 0.4], ["m2", 0.25, 0.4]]);
      assert.equal((v.alerts as { firing: unknown[] }).firing.length, 1);
    } finally {
      d.stop();
    }
  });

  it("the app view: release, instances with memory against the limit, chart points, deploy markers in the range", async () => {
    const d = setup();
    try {
      const v = await d.body(`/${TOKEN}/api/app?name=web&range=1h`);
      assert.equal(v.release, 3);
      const inst = v.instances as { machine: string; memory: number; limit: number; restarts: number }[];
      assert.deepEqual(inst.map((i) => [i.machine, i.memory / 2 ** 20, i.limit / 2 ** 20, i.restarts]), [["m1", 50, 200, 0], ["m2", 50, 200, 2]]);
      const chart = v.chart as { t: number[]; lines: { rps: (number | null)[] } };
      assert.equal(chart.t.length, 361);
      assert.ok(chart.lines.rps.filter((x) => x !== null).length >= 350);
      assert.deepEqual((v.markers as { release: number }[]).map((m) => m.release), [2, 3]);
      const live = await d.body(`/${TOKEN}/api/app?name=web&range=live`);
      assert.deepEqual((live.markers as { release: number }[]).map((m) => m.release), [3], "the 10 min range holds the newer deploy only");
      assert.equal((await d.req(`/${TOKEN}/api/app?name=nope`)).status, 404);
      assert.equal((await d.req(`/${TOKEN}/api/app?name=web&range=2d`)).status, 400);
    } finally {
      d.stop();
    }
  });

  it("24 h: the day's samples asked once, one per 2 minutes", async () => {
    const d = setup();
    try {
      const v = await d.body(`/${TOKEN}/api/app?name=web&range=24h`);
      assert.equal((v.chart as { t: number[] }).t.length, 721);
      await d.body(`/${TOKEN}/api/machine?name=m1&range=24h`);
      assert.deepEqual(d.api.calls.metrics.filter((q) => q.stepMs).map((q) => q.stepMs), [120_000]);
    } finally {
      d.stop();
    }
  });

  it("many pages, one poll: requests read the store; the machines are asked once a round, and not at all when no page asks", async () => {
    let now = NOW;
    const d = setup({ intervalMs: 20, idleMs: 200, now: () => now });
    try {
      await Promise.all(Array.from({ length: 20 }, () => d.body(`/${TOKEN}/api/app?name=web`)));
      assert.equal(d.api.calls.status, 1, "20 pages at once: one status");
      const rounds = async (ms: number) => {
        const end = Date.now() + ms;
        while (Date.now() < end) {
          await d.body(`/${TOKEN}/api/project`);
          await new Promise((r) => setTimeout(r, 2));
        }
      };
      await rounds(300);
      const asked = d.api.calls.status;
      assert.ok(asked >= 3 && asked <= 300 / 20 + 2, `one status a round (20 ms) however many requests: ${asked}`);
      // Alerts and samples every other round; the samples since the last one, not the hour again.
      assert.ok(Math.abs(d.api.calls.alerts - asked / 2) <= 1, `${d.api.calls.alerts} alerts for ${asked} rounds`);
      assert.ok(d.api.calls.metrics.slice(1).every((q) => q.sinceMs! > NOW - 120_000));
      now += 1000;
      await new Promise((r) => setTimeout(r, 1));
      now += 1_000_000;
      await new Promise((r) => setTimeout(r, 100));
      const idle = d.api.calls.status;
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(d.api.calls.status, idle, "no page for idleMs: the poll stopped");
      await d.body(`/${TOKEN}/api/project`);
      assert.equal(d.api.calls.status, idle + 1, "a page again: it runs again");
    } finally {
      d.stop();
    }
  });

  it("the log tail: one follow per app for all pages, each page asking after what it has", async () => {
    const d = setup();
    try {
      const first = (await d.body(`/${TOKEN}/api/logs?app=web&after=-1`)) as { lines: unknown[]; next: number };
      await new Promise((r) => setTimeout(r, 10));
      const all = (await d.body(`/${TOKEN}/api/logs?app=web&after=-1`)) as { lines: { text: string; seq: number }[]; next: number };
      assert.equal(all.lines.length, 3);
      assert.equal(all.lines[0]!.text, "GET /item/0 <b>200</b>");
      assert.equal(((await d.body(`/${TOKEN}/api/logs?app=web&after=${all.next}`)) as { lines: unknown[] }).lines.length, 0);
      assert.equal(d.api.calls.logs.length, 1, "one follow");
      assert.equal(d.api.calls.logs[0]!.follow, true);
      void first;
      const s = (await d.body(`/${TOKEN}/api/logs/search?app=web&grep=item%2F1&range=1h`)) as { lines: unknown[] };
      assert.equal(s.lines.length, 3);
      assert.deepEqual([d.api.calls.logs[1]!.grep, d.api.calls.logs[1]!.since, d.api.calls.logs[1]!.follow], ["item/1", "3600s", undefined]);
    } finally {
      d.stop();
    }
  });

  it("rollback: the plan first (a dry run), then to exactly the release confirmed; JSON from this origin only", async () => {
    const d = setup();
    try {
      const plan = await d.body(`/${TOKEN}/api/rollback?app=web`);
      assert.equal(plan.to, 2);
      assert.equal(d.api.calls.rollback[0]!.dryRun, true);
      const post = (body: string, headers: Record<string, string> = {}) => d.req(`/${TOKEN}/api/rollback`, { method: "POST", body, headers: { host: HOST, "content-type": "application/json", ...headers } });
      assert.equal((await post(JSON.stringify({ app: "web", to: 2 }), { "content-type": "text/plain" })).status, 415, "a form of another site");
      assert.equal((await post(JSON.stringify({ app: "web", to: 2 }), { origin: "http://evil.example" })).status, 403);
      assert.equal((await post(JSON.stringify({ app: "web", to: "2; rm -rf /" }))).status, 400);
      assert.equal((await post(JSON.stringify({ app: "nope", to: 2 }))).status, 404);
      assert.equal(d.api.calls.rollback.length, 1, "nothing refused reached the API");
      const r = await post(JSON.stringify({ app: "web", to: 2 }), { origin: `http://${HOST}` });
      assert.equal(r.status, 200, String(r.body));
      assert.deepEqual(d.api.calls.rollback[1], { apps: ["web"], to: 2 });
    } finally {
      d.stop();
    }
  });

  it("serves on 127.0.0.1 only, the page from the build, the token in the URL; a taken port is the user's to fix", async () => {
    const api = fakeApi();
    const a = await startDashboard(api as never, {});
    try {
      assert.equal((a.server.address() as { address: string }).address, "127.0.0.1");
      assert.match(a.url, /^http:\/\/127\.0\.0\.1:\d+\/[\w-]{32}\/$/);
      const page = await fetch(a.url);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /<script src="app.js"><\/script>/);
      assert.equal((await fetch(new URL("/app.js", a.url))).status, 404);
      assert.equal((await fetch(new URL("app.js", a.url))).status, 200);
      const port = Number(new URL(a.url).port);
      await assert.rejects(startDashboard(api as never, { port }), (e: unknown) => e instanceof UserError && /port \d+ on 127\.0\.0\.1 is taken/.test(e.message));
    } finally {
      await a.close();
    }
  });

  it("views are pure: the same store and time give the same JSON", () => {
    const store: Store = { project: "shop", environment: null, fine: new Map([["m1", [sampleAt("m1", NOW - 10_000), sampleAt("m1", NOW)]]]), at: {}, problems: [], intervalMs: 5000 };
    assert.deepEqual(overview(store, NOW), overview(store, NOW));
    assert.deepEqual(appView(store, "web", "live", NOW).chart.lines.rps!.at(-1), 5);
  });
});
