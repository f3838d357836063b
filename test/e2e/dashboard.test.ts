// `skiff dashboard` on 2 bed machines (project `dash`, app `web` from
// examples/hello-node as a process, one instance per machine on http_port
// 8116), driven through a real headless Chromium (Debian's `chromium`, over
// the DevTools protocol on a pipe: test/e2e/chromium.ts). With light load on
// the app, the page must show: the release and instance count `skiff status`
// gives, a traffic chart with points, a deploy made from the CLI during the
// test (new release, and its marker on the charts), the line an instance just
// printed in the live log tail, a firing alert once the app answers 500 (its
// FAIL_IF_EXISTS switch), the machines on the project view and a machine's
// chart; its rollback button (driven by keyboard) rolls back, as `skiff
// status` then says. Screenshots in test-output/dashboard/. Port 8116 only.
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { bedConfig, faults, up, type Bed } from "../../testbed/bed.ts";
import type { MachineState } from "../../src/api/status.ts";
import { Browser, type Page } from "./chromium.ts";
import { makeProject, type Project, type Run } from "./helpers.ts";

const HELLO_NODE = new URL("../../examples/hello-node", import.meta.url).pathname;
const PORT = 8116;
const FAIL_FILE = "/tmp/skiff-dash-test-fail";
const OUT = new URL("../../test-output/dashboard/", import.meta.url).pathname;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ok = (r: Run, what: string) => assert.equal(r.code, 0, `${what}: ${r.stdout}\n${r.stderr}`);

let bed: Bed;
let p: Project;
let browser: Browser;
let page: Page;
let dash: ReturnType<Project["start"]>;
let url = "";
let load: NodeJS.Timeout | undefined;

/** skiff.yml; `mark` changes the release (a deploy with another makes a new one). */
const write = (mark: string) =>
  writeFileSync(
    join(p.dir, "skiff.yml"),
    `${bedConfig(bed, { project: "dash", httpPort: PORT })}apps:
  web:
    run: node server.js
    artifact: ${HELLO_NODE}
    instances: 2
    resources: { memory: 256M }
    env: { MARK: ${mark}, FAIL_IF_EXISTS: ${FAIL_FILE} }
    routes: [{ path: / }]
    health: { interval: 500ms, deadline: 20s }
alerts:
  interval: 5s
  rules:
    error_rate: { above: 10%, for: 5s, window: 20s, min_requests: 5 }
    memory: false
    latency_p95: false
`,
  );

/** The active release of web on every machine, as `skiff status` says (one number, or the test fails). */
async function activeRelease(): Promise<number> {
  const r = await p.skiff(["--json", "status"]);
  ok(r, "status");
  const actives = new Set((JSON.parse(r.stdout) as MachineState[]).flatMap((m) => ("apps" in m ? m.apps.filter((a) => a.app === "web").map((a) => a.active) : [])));
  assert.equal(actives.size, 1, `one active release everywhere: ${r.stdout}`);
  return [...actives][0]!;
}

const shot = (name: string) => page.screenshot(join(OUT, `${name}.png`));

describe("skiff dashboard on the bed, in Chromium", { timeout: 900_000 }, () => {
  before(async () => {
    mkdirSync(OUT, { recursive: true });
    bed = await up({ count: 2, log: (s) => console.error(`bed: ${s}`) });
    p = makeProject();
    write("a");
    for (const m of bed.machines) await faults.exec(m, `rm -f ${FAIL_FILE}`);
    for (const args of [["machines", "trust", "--yes"], ["setup"]]) ok(await p.skiff(args), args.join(" "));
    // A run that ended without its cleanup left releases behind: the first deploy here starts from none.
    await p.skiff(["remove", "web", "--yes"]);
    ok(await p.skiff(["deploy"]), "deploy");
    // Light load on both machines for the whole test: the charts have requests to draw.
    let i = 0;
    load = setInterval(() => {
      const m = bed.machines[i++ % bed.machines.length]!;
      fetch(`http://${m.address}:${PORT}/`, { signal: AbortSignal.timeout(3000) }).then((r) => r.arrayBuffer(), () => {});
    }, 100);
    dash = p.start(["--json", "dashboard", "--no-open"]);
    for (let t = 0; !url && t < 100; t++) {
      const line = dash.stdout().split("\n").find((l) => l.startsWith("{"));
      if (line) url = (JSON.parse(line) as { url: string }).url;
      else await sleep(100);
    }
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/[\w-]{32}\/$/, `the URL printed: ${dash.stdout()}${dash.stderr()}`);
    browser = await Browser.launch();
    page = await browser.newPage(1280, 900);
  });

  after(async () => {
    clearInterval(load);
    await browser?.close();
    if (dash) {
      process.kill(dash.pid, "SIGTERM");
      const r = await dash.done;
      assert.equal(r.code, 0, `the dashboard ends on SIGTERM: ${r.stderr}`);
    }
    for (const m of bed?.machines ?? []) await faults.exec(m, `rm -f ${FAIL_FILE}`).catch(() => {});
    await p?.skiff(["remove", "web", "--yes"]);
  });

  it("refuses a request without its token", async () => {
    const base = new URL(url);
    for (const path of ["/", "/api/project", `/${"x".repeat(32)}/api/project`]) {
      const r = await fetch(new URL(path, base));
      assert.equal(r.status, 404, path);
    }
    assert.equal((await fetch(new URL("api/project", url))).status, 200);
  });

  it("the app view: the release and instances skiff status gives, and a traffic chart with points", async () => {
    const release = await activeRelease();
    const started = Date.now();
    await page.goto(`${url}#/app/web`);
    await page.waitFor(`document.getElementById("release")?.dataset.release === "${release}"`, `release ${release}`);
    await page.waitFor(`document.getElementById("instances")?.dataset.instances === "2" && document.getElementById("instances")?.dataset.healthy === "2"`, "2 of 2 instances healthy");
    const points = await page.waitFor<number>(`Number(document.querySelector('.chart[aria-label="Requests"]')?.dataset.points) >= 2 && Number(document.querySelector('.chart[aria-label="Requests"]').dataset.points)`, "the requests chart with points", 60_000);
    console.error(`requests chart: ${points} points, ${((Date.now() - started) / 1000).toFixed(1)} s after the page opened`);
    const rps = await page.eval<string>(`document.querySelector('.chart[aria-label="Requests"] canvas') ? "drawn" : ""`);
    assert.equal(rps, "drawn");
    await shot("app-view");
  });

  it("a deploy from another terminal shows as it happens: the new release, and its marker on the charts", async () => {
    const before = await activeRelease();
    write("b");
    ok(await p.skiff(["deploy"]), "second deploy");
    const now = await activeRelease();
    assert.equal(now, before + 1);
    await page.waitFor(`document.getElementById("release")?.dataset.release === "${now}"`, `release ${now}`);
    const marks = await page.waitFor<number>(`document.querySelectorAll('.chart[aria-label="Requests"] .marker[data-action="deploy"][data-release="${now}"]').length`, `a deploy marker for release ${now}`);
    assert.equal(marks, 1);
    const label = await page.eval<string>(`document.querySelector('.marker[data-release="${now}"]').getAttribute("aria-label")`);
    assert.match(label, new RegExp(`^deploy → release ${now} by `));
    await page.waitFor(`[...document.querySelectorAll("table td")].some((td) => td.textContent === "${now}")`, "the release in the history table");
    await shot("app-after-deploy");
  });

  it("the live log tail shows what an instance just printed, and the filter keeps only what matches", async () => {
    const marker = `dash-e2e-${Date.now()}`;
    const r = await fetch(`http://${bed.machines[0]!.address}:${PORT}/print?line=${marker}`);
    assert.equal(r.status, 200);
    await page.waitFor(`document.getElementById("logs")?.textContent.includes("${marker}")`, "the printed line in the log tail", 30_000);
    await page.eval(`(() => { const i = document.getElementById("grep"); i.value = "${marker}"; i.dispatchEvent(new Event("input")); })()`);
    const lines = await page.eval<string[]>(`[...document.getElementById("logs").childNodes].filter((n) => n.nodeType === 3 && n.textContent.trim()).map((n) => n.textContent)`);
    assert.deepEqual(lines, [marker]);
    await page.eval(`(() => { const i = document.getElementById("grep"); i.value = ""; i.dispatchEvent(new Event("input")); })()`);
  });

  it("an app made to fail: the firing alert shows on the app view and the project view", async () => {
    for (const m of bed.machines) await faults.exec(m, `touch ${FAIL_FILE}`);
    try {
      await page.waitFor(`document.querySelector('.alert.firing[data-key="error_rate/web"]')`, "error_rate/web firing", 150_000);
      await page.waitFor(`document.querySelector('.chart[aria-label="Errors"]') && Number(document.querySelector('.chart[aria-label="Errors"]').dataset.points) > 0`, "the errors chart");
      await shot("app-alert-firing");
      await page.goto(`${url}#/`);
      await page.waitFor(`document.querySelector('.alert.firing[data-key="error_rate/web"]')`, "the alert on the project view");
      const row = await page.waitFor<string>(`[...document.querySelectorAll("tr")].find((tr) => tr.querySelector("a")?.textContent === "web")?.innerText`, "web's row");
      assert.match(row, /m1 1\/1 · m2 1\/1/);
      assert.match(row, /1 firing/);
      const machines = await page.eval<string[]>(`[...document.querySelectorAll("tr")].filter((tr) => /^m\\d$/.test(tr.querySelector("a")?.textContent ?? "")).map((tr) => tr.innerText)`);
      assert.equal(machines.length, 2);
      for (const m of machines) assert.match(m, /\d+%/, "CPU and disk in %");
      await shot("project-view");
    } finally {
      for (const m of bed.machines) await faults.exec(m, `rm -f ${FAIL_FILE}`);
    }
  });

  it("a machine's view: its instances and a resources chart with points", async () => {
    await page.goto(`${url}#/machine/m1`);
    await page.waitFor(`Number(document.querySelector('.chart[aria-label="CPU"]')?.dataset.points) > 0`, "m1's CPU chart");
    const rows = await page.waitFor<number>(`[...document.querySelectorAll("tr")].filter((tr) => tr.querySelector("a")?.textContent === "web").length`, "web's instance on m1");
    assert.equal(rows, 1);
    await shot("machine-view");
  });

  it("the 1 h and 24 h ranges draw from the agents' history", async () => {
    await page.goto(`${url}#/app/web`);
    for (const range of ["1h", "24h"]) {
      await page.eval(`document.querySelector('[data-range="${range}"]').click()`);
      await page.waitFor(`document.querySelector('[data-range="${range}"]').getAttribute("aria-pressed") === "true" && Number(document.querySelector('.chart[aria-label="Requests"]')?.dataset.points) > 0`, `the requests chart over ${range}`);
    }
    await page.eval(`document.querySelector('[data-range="live"]').click()`);
  });

  it("the rollback button, by keyboard, with its confirmation: rolls back, as skiff status says", async () => {
    const from = await activeRelease();
    await page.goto(`${url}#/app/web`);
    await page.waitFor(`document.getElementById("release")?.dataset.release === "${from}" && !document.getElementById("rollback").disabled`, "the rollback button");
    await page.eval(`document.getElementById("rollback").focus()`);
    await page.press("Enter");
    const text = await page.waitFor<string>(`document.getElementById("confirm").open && document.getElementById("confirm-text").textContent`, "the confirmation");
    assert.match(text, new RegExp(`^Activate release ${from - 1} of web on every machine`));
    await shot("rollback-confirm");
    // Cancel is focused first: Escape closes the dialog and nothing happens.
    await page.press("Escape");
    await page.waitFor(`!document.getElementById("confirm").open`, "the dialog closed");
    assert.equal(await activeRelease(), from, "cancelled: no rollback");
    await page.eval(`document.getElementById("rollback").focus()`);
    await page.press("Enter");
    await page.waitFor(`document.getElementById("confirm").open && !document.getElementById("confirm-go").disabled`, "the confirmation again");
    await page.eval(`document.getElementById("confirm-go").focus()`);
    await page.press("Enter");
    await page.waitFor(`/rolled back to release ${from - 1}/.test(document.getElementById("rollback-note").textContent)`, "the rollback done", 120_000);
    assert.equal(await activeRelease(), from - 1, "skiff status: the previous release is active");
    await page.waitFor(`document.getElementById("release")?.dataset.release === "${from - 1}"`, `release ${from - 1} on the page`);
    await page.waitFor(`document.querySelectorAll('.chart[aria-label="Requests"] .marker[data-action="rollback"][data-release="${from - 1}"]').length === 1`, "the rollback's marker");
    const h = await p.skiff(["history", "web"]);
    ok(h, "history");
    assert.match(h.stdout, /rollback/);
    await shot("app-after-rollback");
  });

  it("in a narrow window, nothing is wider than the window; no error in the page", async () => {
    await page.viewport(400, 900);
    await page.goto(`${url}#/app/web`);
    await page.waitFor(`Number(document.querySelector('.chart[aria-label="Requests"]')?.dataset.points) > 0`, "the chart");
    await sleep(500);
    const wide = await page.eval<string[]>(`[...document.querySelectorAll("body *")].filter((e) => !e.closest(".scroll") && e.getBoundingClientRect().right > document.documentElement.clientWidth + 1).map((e) => e.tagName + "." + e.className)`);
    assert.deepEqual(wide, []);
    await shot("app-narrow");
    assert.deepEqual(page.errors, [], "exceptions or console errors (a CSP refusal is one)");
  });
});
