// bench/dashboard: `skiff dashboard` on 2 bed machines (project `dash`, app
// `web` from examples/hello-node, 2 instances, 5 requests/s of load), in
// Debian's headless Chromium (test/e2e/chromium.ts).
//   1. Page load to first chart: from navigating to the app view to its
//      requests chart holding points; the first load (the dashboard's poll
//      starting: its first round and the hour of samples) and then ROUNDS
//      loads in fresh tabs with the poll running.
//   2. The agents' CPU on the machines (agent and supervisor, % of one core),
//      over WINDOW seconds each, alternated twice: the dashboard running with
//      no page open; one page open (the app view, refreshing every 3 s; the
//      dashboard polls every 5 s); three pages open (the same poll serves
//      them); `skiff status` run every 5 s (the dashboard's cadence). The
//      dashboard's own CPU on this computer is given beside.
// Last, a deploy and a screenshot of the app view (test-output/dashboard/bench-app-view.png, the one docs/ shows).
// WINDOW (60 s), ROUNDS (5). Figures, not assertions. Port 8116.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bedConfig, up } from "../testbed/bed.ts";
import { Browser, type Page } from "../test/e2e/chromium.ts";
import { makeProject, type Run } from "../test/e2e/helpers.ts";
import { isAgent, probe, sum } from "./lib-footprint.ts";

const WINDOW_S = Number(process.env.WINDOW ?? 60);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const PORT = 8116;
const HELLO_NODE = new URL("../examples/hello-node", import.meta.url).pathname;
const OUT = new URL("../test-output/dashboard/", import.meta.url).pathname;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ok = (r: Run, what: string) => {
  if (r.code !== 0) throw new Error(`${what} failed:\n${r.stdout}\n${r.stderr}`);
};

const bed = await up({ count: 2 });
const p = makeProject();
const write = (mark: string) =>
  writeFileSync(
    join(p.dir, "skiff.yml"),
    `${bedConfig(bed, { project: "dash", httpPort: PORT })}apps:
  web:
    run: node server.js
    artifact: ${HELLO_NODE}
    instances: 2
    resources: { memory: 256M }
    env: { MARK: ${mark}, SLOW_MS: "3" }
    routes: [{ path: / }]
    health: { interval: 1s, deadline: 20s }
`,
  );
write("a");
for (const args of [["machines", "trust", "--yes"], ["setup"]]) ok(await p.skiff(args), args.join(" "));
ok(await p.skiff(["deploy"]), "deploy");
let i = 0;
const load = setInterval(() => {
  const m = bed.machines[i++ % bed.machines.length]!;
  fetch(`http://${m.address}:${PORT}/`, { signal: AbortSignal.timeout(3000) }).then((r) => r.arrayBuffer(), () => {});
}, 200);
// Samples with traffic in them before the page first asks.
await sleep(25_000);

const dash = p.start(["--json", "dashboard", "--no-open"]);
let url = "";
while (!url) {
  const line = dash.stdout().split("\n").find((l) => l.startsWith("{"));
  if (line) url = (JSON.parse(line) as { url: string }).url;
  else if ((await Promise.race([dash.done, sleep(100)])) !== undefined) throw new Error(`skiff dashboard ended: ${dash.stderr()}`);
}
const browser = await Browser.launch();

/** Opens the app view in a new tab; ms from navigation start to the first chart with points, by the page's clock
 *  (its "skiff-first-chart" mark). */
async function firstChart(): Promise<{ ms: number; page: Page }> {
  const page = await browser.newPage(1280, 900);
  await page.goto(`${url}#/app/web`);
  const ms = await page.waitFor<number>(`performance.getEntriesByName("skiff-first-chart")[0]?.startTime`, "the first chart", 60_000);
  return { ms, page };
}

const cold = await firstChart();
const warm: number[] = [];
const tabs: Page[] = [cold.page];
for (let r = 0; r < ROUNDS; r++) {
  const t = await firstChart();
  warm.push(t.ms);
  tabs.push(t.page);
}
const asset = (name: string) => readFileSync(new URL(`../dist/dashboard/${name}`, import.meta.url)).length;

/** The dashboard process's CPU ticks on this computer (utime + stime, /proc/PID/stat). */
const localTicks = () => {
  const f = readFileSync(`/proc/${dash.pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return Number(f[11]) + Number(f[12]);
};

/** The agents' CPU (% of a core) per machine over a window while `during` runs, and the dashboard's here. */
async function window(during: (stop: AbortSignal) => Promise<void>) {
  const stop = new AbortController();
  const running = during(stop.signal);
  await sleep(10_000);
  const a0 = await Promise.all(bed.machines.map(probe));
  const l0 = localTicks();
  const t0 = performance.now();
  await sleep(WINDOW_S * 1000);
  const a1 = await Promise.all(bed.machines.map(probe));
  const s = (performance.now() - t0) / 1000;
  const local = ((localTicks() - l0) / 100 / s) * 100;
  stop.abort();
  await running;
  return { agents: bed.machines.map((_, k) => ((sum(a1[k]!.procs, isAgent).ticks - sum(a0[k]!.procs, isAgent).ticks) / a1[k]!.tck / s) * 100), local };
}

const pages = (n: number) => async (stop: AbortSignal) => {
  const open: Page[] = [];
  for (let k = 0; k < n; k++) {
    const page = await browser.newPage(1280, 900);
    await page.goto(`${url}#/app/web`);
    open.push(page);
  }
  await new Promise((r) => stop.addEventListener("abort", r, { once: true }));
  for (const page of open) await page.goto("about:blank");
};
const statusEvery5s = async (stop: AbortSignal) => {
  while (!stop.aborted) {
    const t0 = Date.now();
    ok(await p.skiff(["status"]), "status");
    await sleep(Math.max(0, 5000 - (Date.now() - t0)));
  }
};
const nothing = async (stop: AbortSignal) => void (await new Promise((r) => stop.addEventListener("abort", r, { once: true })));

for (const t of tabs) await t.goto("about:blank");
// No page asked for 30 s: the dashboard's poll has stopped.
await sleep(35_000);
const rows: { label: string; agents: number[]; local: number }[] = [];
for (let round = 0; round < 2; round++) {
  rows.push({ label: "dashboard, no page open", ...(await window(nothing)) });
  rows.push({ label: "dashboard, 1 page open", ...(await window(pages(1))) });
  rows.push({ label: "dashboard, 3 pages open", ...(await window(pages(3))) });
  await sleep(35_000);
  rows.push({ label: "skiff status every 5 s", ...(await window(statusEvery5s)) });
}

// The screenshot for docs/: a deploy while the page is open, its marker on the charts.
mkdirSync(OUT, { recursive: true });
const shotPage = await browser.newPage(1280, 900);
await shotPage.goto(`${url}#/app/web`);
write("b");
ok(await p.skiff(["deploy"]), "deploy b");
await shotPage.waitFor(`document.querySelector('.chart[aria-label="Requests"] .marker[data-action="deploy"]')`, "a deploy marker");
await sleep(25_000);
await shotPage.screenshot(join(OUT, "bench-app-view.png"));

clearInterval(load);
await browser.close();
process.kill(dash.pid, "SIGTERM");
await dash.done;
ok(await p.skiff(["remove", "web", "--yes"]), "remove");

const pct = (x: number) => `${x.toFixed(2)} %`;
console.log(`bench/dashboard — 2 machines, app web (2 instances, 5 req/s), Chromium headless; page: app.js ${(asset("app.js") / 1024).toFixed(0)} KB, app.css ${(asset("app.css") / 1024).toFixed(0)} KB (uncompressed, uPlot included)`);
console.log(`  page load to first chart (navigation start → a chart with points, the page's clock): first ${(cold.ms / 1000).toFixed(2)} s (the poll starting); then median ${(median(warm) / 1000).toFixed(2)} s over ${ROUNDS} new tabs (${warm.map((x) => (x / 1000).toFixed(2)).join(", ")} s)`);
console.log(`  agents' CPU (agent + supervisor, % of one core) over ${WINDOW_S} s windows, and the dashboard process here:`);
console.log(`  ${"".padEnd(28)}${bed.machines.map((m) => m.name.padEnd(10)).join("")}${"dashboard here".padEnd(16)}`);
for (const r of rows) console.log(`  ${r.label.padEnd(28)}${r.agents.map((x) => pct(x).padEnd(10)).join("")}${(r.label.startsWith("skiff status") ? "–" : pct(r.local)).padEnd(16)}`);
const mean = (label: string) => {
  const xs = rows.filter((r) => r.label === label).flatMap((r) => r.agents);
  return xs.reduce((n, x) => n + x, 0) / xs.length;
};
const idle = mean("dashboard, no page open");
console.log(`  mean per machine above the no-page windows: 1 page +${(mean("dashboard, 1 page open") - idle).toFixed(2)} points, 3 pages +${(mean("dashboard, 3 pages open") - idle).toFixed(2)}, skiff status every 5 s +${(mean("skiff status every 5 s") - idle).toFixed(2)}`);
process.exit(0);
