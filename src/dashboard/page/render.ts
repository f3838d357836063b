// The parts of each view, as elements, from the server's JSON (../views.ts gives their types).
import type { appView, InstanceRow, machineView, overview } from "../views.ts";
import { ago, bytes, el, pct, table, usage, when } from "./dom.ts";

export type ProjectData = ReturnType<typeof overview> & { rolling: string | null };
export type AppData = ReturnType<typeof appView> & { rolling: string | null };
export type MachineData = ReturnType<typeof machineView>;
type Alerts = AppData["alerts"];
type HistoryRows = AppData["history"];

const link = (href: string, text: string) => el("a", { href }, text);
export const appHref = (app: string) => `#/app/${encodeURIComponent(app)}`;
export const machineHref = (m: string) => `#/machine/${encodeURIComponent(m)}`;

/** Firing and pending alerts; the firing ones are announced (role=alert) when they appear. */
export function alertList(a: Alerts): HTMLElement {
  if (!a.firing.length && !a.pending.length) return el("p", { class: "muted", "data-alerts": 0 }, "No alert firing.");
  return el(
    "ul",
    { class: "alerts", "data-alerts": a.firing.length },
    ...a.firing.map((x) => el("li", { class: "alert firing", role: "alert", "data-key": x.key }, el("strong", {}, "FIRING"), el("span", {}, x.summary), el("span", { class: "muted" }, ` · ${x.key} · since ${when(x.firedAt ?? x.since)}`))),
    ...a.pending.map((x) => el("li", { class: "alert pending", "data-key": x.key }, el("strong", {}, "pending"), el("span", {}, x.summary), el("span", { class: "muted" }, ` · ${x.key} · since ${when(x.since)}`))),
  );
}

const result = (r: HistoryRows[number]) => {
  const results = [...new Set(Object.values(r.machines).map((m) => m.result))];
  const ok = results.every((x) => x === "ok");
  const reasons = Object.entries(r.machines).flatMap(([m, x]) => (x.reason ? [`${m}: ${x.reason}`] : []));
  return [el("span", { title: reasons.join("\n") || undefined }, results.join(", ") || "recorded"), ok ? "ok" : "bad"] as [HTMLElement, string];
};

export function historyTable(rows: HistoryRows, withApp: boolean): HTMLElement {
  if (!rows.length) return el("p", { class: "muted" }, "Nothing recorded yet.");
  return table(
    [...(withApp ? ["App"] : []), "Release", "Action", "Result", "By", "When", "Took"],
    rows.map((r) => [...(withApp ? [link(appHref(r.app), r.app)] : []), String(r.release), r.action, result(r), r.by ?? "–", when(r.at), r.durationMs ? `${(r.durationMs / 1000).toFixed(1)} s` : "–"]),
  );
}

export function projectBody(d: ProjectData): HTMLElement[] {
  const machines = table(
    ["Machine", "CPU", "Memory", "Disk", "Load", "Instances"],
    d.machines.map((m) =>
      m.problem
        ? [link(machineHref(m.name), m.name), [m.problem, "bad"], "", "", "", ""]
        : [link(machineHref(m.name), m.name), pct(m.cpu), m.memoryUsed !== undefined ? `${bytes(m.memoryUsed)} / ${bytes(m.memoryTotal)}` : "–", pct(m.diskUsed), m.load1?.toFixed(2) ?? "–", String(m.instances ?? 0)],
    ),
  );
  const apps = d.apps.length
    ? table(
        ["App", "Release", "Instances (healthy/all) per machine", "Health", "Alerts"],
        d.apps.map((a) => {
          const all = Object.values(a.machines).reduce((n, m) => n + m.instances, 0);
          const healthy = Object.values(a.machines).reduce((n, m) => n + m.healthy, 0);
          const mixed = new Set(Object.values(a.releases).filter((r) => r !== null)).size > 1;
          return [
            link(appHref(a.name), a.name),
            el("span", { "data-release": a.release ?? "" }, a.release === null ? "–" : String(a.release), mixed ? el("span", { class: "muted" }, ` (${Object.entries(a.releases).map(([m, r]) => `${m}: ${r ?? "–"}`).join(", ")})`) : null),
            Object.entries(a.machines).map(([m, x]) => `${m} ${x.healthy}/${x.instances}`).join(" · "),
            [healthy === all ? "all healthy" : `${all - healthy} of ${all} not healthy`, healthy === all ? "ok" : "bad"],
            a.firing ? [`${a.firing} firing`, "bad"] : "–",
          ];
        }),
      )
    : el("p", { class: "muted" }, "No app runs on these machines yet: `skiff deploy`.");
  return [el("h1", {}, `Project ${d.project}${d.environment ? ` (${d.environment})` : ""}`), el("h2", {}, "Alerts"), alertList(d.alerts), el("h2", {}, "Apps"), apps, el("h2", {}, "Machines"), machines, el("h2", {}, "Recent changes"), historyTable(d.history, true)];
}

export function appSummary(d: AppData): HTMLElement {
  const healthy = d.instances.filter((i) => i.state === "healthy").length;
  return el(
    "div",
    { class: "summary" },
    el("div", { class: "stat" }, el("span", { class: "k" }, "Release"), el("span", { class: "v", id: "release", "data-release": d.release ?? "" }, d.release === null ? "–" : String(d.release))),
    el("div", { class: "stat" }, el("span", { class: "k" }, "Instances healthy"), el("span", { class: "v", id: "instances", "data-healthy": healthy, "data-instances": d.instances.length }, `${healthy} / ${d.instances.length}`)),
    el("div", { class: "stat" }, el("span", { class: "k" }, "Alerts firing"), el("span", { class: `v${d.alerts.firing.length ? " bad" : ""}` }, String(d.alerts.firing.length))),
  );
}

export function instancesTable(rows: InstanceRow[], now: number): HTMLElement {
  if (!rows.length) return el("p", { class: "muted" }, "No instances.");
  const byMachine = rows[0]!.machine !== undefined;
  return table(
    [byMachine ? "Machine" : "App", "Instance", "Release", "State", "Restarts", "Up", "Memory / limit", "Last exit"],
    rows.map((x) => [
      byMachine ? link(machineHref(x.machine!), x.machine!) : link(appHref(x.app!), x.app!),
      x.name.replace(/^skiff-/, ""),
      String(x.release),
      [x.state === "unhealthy" && x.health ? `unhealthy: ${x.health}` : x.state, `state-${x.state}`],
      String(x.restarts),
      x.state === "down" ? "–" : ago(Date.parse(x.startedAt), now),
      usage(x.memory, x.limit),
      x.lastExit ? `${x.lastExit.oomKilled ? "OOM killed" : `exit ${x.lastExit.code ?? "?"}`}: ${x.lastExit.reason}` : "",
    ]),
  );
}
