// The dashboard page: the view in the address's hash (#/, #/app/NAME, #/machine/NAME), the range from the buttons,
// its data asked from the local server every few seconds (which answers from one shared poll of the machines),
// the live log tail, and the rollback button with its confirmation.
import type { TailLine } from "../log-tail.ts";
import type { Range } from "../views.ts";
import { panel, type Panel } from "./charts.ts";
import { el, when } from "./dom.ts";
import { alertList, appSummary, historyTable, instancesTable, projectBody, type AppData, type MachineData, type ProjectData } from "./render.ts";

const EVERY_MS = 3000;
const main = document.getElementById("main")!;
const fresh = document.getElementById("fresh")!;
const crumbs = document.getElementById("crumbs")!;

let range: Range = (sessionStorage.getItem("skiff-range") as Range | null) ?? "live";
let view: { stop(): void; refresh(): Promise<void> } | undefined;

async function getJson<T>(path: string, init?: RequestInit): Promise<T> {
  const r = await fetch(path, { ...init, headers: { Accept: "application/json", ...(init?.body ? { "Content-Type": "application/json" } : {}) } });
  const body = (await r.json().catch(() => ({ error: `${r.status} ${r.statusText}` }))) as T & { error?: string; hint?: string };
  if (!r.ok) throw new Error(body.error ? `${body.error}${body.hint ? ` (${body.hint})` : ""}` : `${r.status}`);
  return body;
}

/** A part of the page replaced only when its data changed (a focused link in it keeps its focus otherwise). */
function part(): { root: HTMLElement; set(data: unknown, build: () => Node | Node[]): void } {
  const root = el("div");
  let last = "";
  return {
    root,
    set(data, build) {
      const key = JSON.stringify(data);
      if (key === last) return;
      last = key;
      const n = build();
      root.replaceChildren(...(Array.isArray(n) ? n : [n]));
    },
  };
}

function showFresh(d: { now: number; polledAt: { status?: number }; intervalMs: number; problems: string[] }) {
  const at = d.polledAt.status;
  fresh.textContent = `${at ? `machines asked ${Math.max(0, Math.round((d.now - at) / 1000))} s ago` : "asking the machines…"}${d.problems.length ? ` · ${d.problems.join("; ")}` : ""}`;
  fresh.classList.toggle("error", d.problems.length > 0);
}

/** A view: `load` fetches and draws, every EVERY_MS while the tab is visible, until `stop`. */
function every(load: () => Promise<void>): { stop(): void; refresh(): Promise<void> } {
  let timer: number | undefined;
  let stopped = false;
  const tick = async () => {
    try {
      await load();
    } catch (e) {
      fresh.textContent = `could not reach skiff dashboard: ${(e as Error).message}`;
      fresh.classList.add("error");
    }
    if (!stopped) timer = window.setTimeout(tick, document.hidden ? EVERY_MS * 5 : EVERY_MS);
  };
  void tick();
  return { stop: () => ((stopped = true), clearTimeout(timer)), refresh: load };
}

function projectView() {
  crumbs.replaceChildren(el("span", {}, "project"));
  const body = part();
  main.replaceChildren(body.root);
  return every(async () => {
    const d = await getJson<ProjectData>(`api/project?range=${range}`);
    document.title = `${d.project} · skiff dashboard`;
    showFresh(d);
    body.set({ ...d, now: 0, polledAt: 0 }, () => projectBody(d));
  });
}

function appPage(app: string) {
  crumbs.replaceChildren(el("a", { href: "#/" }, "project"), el("span", {}, "›"), el("span", {}, `app ${app}`));
  const summary = part();
  const alerts = part();
  const instances = part();
  const history = part();
  const charts: Panel[] = [
    panel("Requests", "per second", [{ key: "rps", label: "req/s", colour: "#0b57d0" }]),
    panel("Errors", "% 5xx", [{ key: "errors", label: "5xx %", colour: "#b42318" }]),
    panel("Latency", "ms", [
      { key: "p50", label: "p50", colour: "#116329" },
      { key: "p95", label: "p95", colour: "#8a4b00", dash: [6, 3] },
      { key: "p99", label: "p99", colour: "#6f42c1", dash: [2, 3] },
    ]),
  ];
  const rollbackButton = el("button", { type: "button", class: "danger", id: "rollback" }, "Roll back…");
  const rollbackNote = el("span", { class: "muted", "aria-live": "polite", id: "rollback-note" });
  rollbackButton.addEventListener("click", () => void confirmRollback(app, rollbackNote, () => loop.refresh()));
  const logs = logPanel(app);
  main.replaceChildren(
    el("h1", {}, `App ${app}`),
    summary.root,
    el("div", { class: "rollback-row" }, rollbackButton, rollbackNote),
    el("h2", {}, "Alerts"),
    alerts.root,
    el("h2", {}, "Traffic"),
    el("p", { class: "muted" }, "All machines together. Markers: ▲ deploy, ↩ rollback (dashed lines)."),
    el("div", { class: "charts" }, ...charts.map((c) => c.root)),
    el("h2", {}, "Instances"),
    instances.root,
    el("h2", {}, "Releases"),
    history.root,
    el("h2", {}, "Logs"),
    logs.root,
  );
  const loop = every(async () => {
    const d = await getJson<AppData>(`api/app?name=${encodeURIComponent(app)}&range=${range}`);
    document.title = `${app} · ${d.project} · skiff dashboard`;
    showFresh(d);
    summary.set([d.release, d.instances.map((i) => i.state), d.alerts.firing.length], () => appSummary(d));
    alerts.set(d.alerts, () => alertList(d.alerts));
    instances.set({ i: d.instances, t: Math.floor(d.now / 10_000) }, () => instancesTable(d.instances, d.now));
    history.set(d.history, () => historyTable(d.history, false));
    rollbackButton.disabled = d.rolling !== null || d.history.length === 0;
    for (const c of charts) c.update(d.chart, d.markers);
  });
  return {
    stop: () => (loop.stop(), logs.stop(), charts.forEach((c) => c.destroy())),
    refresh: loop.refresh,
  };
}

function machinePage(machine: string) {
  crumbs.replaceChildren(el("a", { href: "#/" }, "project"), el("span", {}, "›"), el("span", {}, `machine ${machine}`));
  const head = part();
  const alerts = part();
  const instances = part();
  const charts: Panel[] = [
    panel("CPU", "% busy", [{ key: "cpu", label: "CPU %", colour: "#0b57d0" }]),
    panel("Memory", "% used", [{ key: "memory", label: "memory %", colour: "#6f42c1" }]),
    panel("Disk", "% full", [{ key: "disk", label: "disk %", colour: "#8a4b00" }]),
  ];
  main.replaceChildren(el("h1", {}, `Machine ${machine}`), head.root, el("h2", {}, "Alerts"), alerts.root, el("h2", {}, "Resources"), el("div", { class: "charts" }, ...charts.map((c) => c.root)), el("h2", {}, "Instances"), instances.root);
  const loop = every(async () => {
    const d = await getJson<MachineData>(`api/machine?name=${encodeURIComponent(machine)}&range=${range}`);
    showFresh(d);
    head.set([d.problem, d.top], () => (d.problem ? el("p", { class: "bad" }, d.problem) : el("p", { class: "muted" }, d.top ? `CPU ${d.top.cpu === undefined ? "–" : `${Math.round(d.top.cpu * 100)}%`} · load ${d.top.load1?.toFixed(2) ?? "–"}` : "")));
    alerts.set(d.alerts, () => alertList(d.alerts));
    instances.set({ i: d.instances, t: Math.floor(d.now / 10_000) }, () => instancesTable(d.instances, d.now));
    for (const c of charts) c.update(d.chart, d.markers);
  });
  return { stop: () => (loop.stop(), charts.forEach((c) => c.destroy())), refresh: loop.refresh };
}

/** The live tail (every 2 s from the server's shared follow) with a filter, and a search of the range's past lines on
 *  the machines. */
function logPanel(app: string) {
  const input = el("input", { type: "search", placeholder: "grep (regular expression)", "aria-label": "Filter the log lines (regular expression)", id: "grep" });
  const search = el("button", { type: "button", id: "grep-past" }, "Search the range");
  const live = el("button", { type: "button", "aria-pressed": "true", id: "grep-live" }, "Live");
  const note = el("span", { class: "muted", "aria-live": "polite" });
  const out = el("pre", { class: "logs", id: "logs", tabindex: 0, "aria-label": `log lines of ${app}` });
  let lines: TailLine[] = [];
  let after = -1;
  let past: TailLine[] | undefined;
  let timer: number | undefined;
  const pattern = () => {
    try {
      return input.value ? new RegExp(input.value) : undefined;
    } catch {
      return null;
    }
  };
  const draw = () => {
    const re = pattern();
    note.textContent = re === null ? "not a regular expression" : past ? `${past.length} past line(s) matching, over the ${range} range` : "";
    const shown = (past ?? lines).filter((l) => !re || re.test(l.text));
    const stick = out.scrollTop + out.clientHeight >= out.scrollHeight - 8;
    out.replaceChildren(...shown.slice(-300).flatMap((l) => [el("span", { class: "meta" }, `${new Date(l.time).toLocaleTimeString()} ${l.machine} ${l.release === null ? "" : `@${l.release}`} `), l.text, "\n"]));
    if (stick || past) out.scrollTop = out.scrollHeight;
  };
  const poll = async () => {
    try {
      const r = await getJson<{ lines: TailLine[]; next: number; problem?: string }>(`api/logs?app=${encodeURIComponent(app)}&after=${after}`);
      if (r.lines.length) {
        lines = [...lines, ...r.lines].slice(-500);
        after = r.next;
        if (!past) draw();
      }
      if (r.problem) note.textContent = r.problem;
    } catch (e) {
      note.textContent = (e as Error).message;
    }
    timer = window.setTimeout(poll, 2000);
  };
  input.addEventListener("input", draw);
  input.addEventListener("keydown", (e) => e.key === "Enter" && search.click());
  search.addEventListener("click", async () => {
    note.textContent = "searching on the machines…";
    try {
      const r = await getJson<{ lines: TailLine[]; missing: string[] }>(`api/logs/search?app=${encodeURIComponent(app)}&range=${range}&grep=${encodeURIComponent(input.value)}`);
      past = r.lines;
      live.setAttribute("aria-pressed", "false");
      draw();
      if (r.missing.length) note.textContent += ` (not read: ${r.missing.join(", ")})`;
    } catch (e) {
      note.textContent = (e as Error).message;
    }
  });
  live.addEventListener("click", () => {
    past = undefined;
    live.setAttribute("aria-pressed", "true");
    draw();
  });
  void poll();
  return { root: el("div", {}, el("div", { class: "logs-bar" }, input, search, live, note), out), stop: () => clearTimeout(timer) };
}

/** Asks the server what a rollback would do (its plan), shows it, and on confirmation rolls back to that release. */
async function confirmRollback(app: string, note: HTMLElement, after: () => Promise<void>) {
  const dialog = document.getElementById("confirm") as HTMLDialogElement;
  const text = document.getElementById("confirm-text")!;
  const error = document.getElementById("confirm-error")!;
  const go = document.getElementById("confirm-go") as HTMLButtonElement;
  note.textContent = "asking the machines what a rollback would do…";
  let plan: { to: number | null; machines: { machine: string; from?: number | null }[] };
  try {
    plan = await getJson(`api/rollback?app=${encodeURIComponent(app)}`);
  } catch (e) {
    note.textContent = `no rollback: ${(e as Error).message}`;
    return;
  }
  note.textContent = "";
  if (plan.to === null) {
    note.textContent = "no earlier release to roll back to";
    return;
  }
  text.textContent = `Activate release ${plan.to} of ${app} on every machine that runs it (${plan.machines.map((m) => m.machine).join(", ") || "none"})?`;
  error.textContent = "";
  go.disabled = false;
  go.textContent = `Roll back to release ${plan.to}`;
  go.onclick = async () => {
    go.disabled = true;
    go.textContent = "Rolling back…";
    try {
      const r = await getJson<{ ok: boolean; to: number }>(`api/rollback`, { method: "POST", body: JSON.stringify({ app, to: plan.to }) });
      dialog.close();
      note.textContent = `rolled back to release ${r.to} at ${when(Date.now())}`;
      await after();
    } catch (e) {
      error.textContent = (e as Error).message;
      go.disabled = false;
      go.textContent = `Roll back to release ${plan.to}`;
    }
  };
  dialog.showModal();
  (document.getElementById("confirm-cancel") as HTMLButtonElement).focus();
}

function route() {
  view?.stop();
  const [, kind, name] = decodeURIComponent(location.hash.replace(/^#/, "")).split("/");
  view = kind === "app" && name ? appPage(name) : kind === "machine" && name ? machinePage(name) : projectView();
  main.focus({ preventScroll: true });
}

for (const b of document.querySelectorAll<HTMLButtonElement>("[data-range]")) {
  b.setAttribute("aria-pressed", String(b.dataset.range === range));
  b.addEventListener("click", () => {
    range = b.dataset.range as Range;
    sessionStorage.setItem("skiff-range", range);
    for (const o of document.querySelectorAll<HTMLButtonElement>("[data-range]")) o.setAttribute("aria-pressed", String(o === b));
    void view?.refresh();
  });
}
window.addEventListener("hashchange", route);
route();
