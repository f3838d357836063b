// Time-series charts with uPlot (bundled: the page works offline), one per panel, kept across updates (setData),
// with deploys and rollbacks drawn over the plot as markers: elements, so they have a label to read and test.
import uPlot from "uplot";
import type { Chart } from "../series.ts";
import type { Marker } from "../views.ts";
import { el, when } from "./dom.ts";

export interface LineSpec {
  key: string;
  label: string;
  colour: string;
  dash?: number[];
}

export interface Panel {
  root: HTMLElement;
  update(chart: Chart, markers: Marker[]): void;
  destroy(): void;
}

/** Times with at least one value: what the chart has to draw. */
export const pointsOf = (chart: Chart, keys: string[]) => chart.t.filter((_, i) => keys.some((k) => chart.lines[k]?.[i] !== null && chart.lines[k]?.[i] !== undefined)).length;

export function panel(title: string, unit: string, lines: LineSpec[]): Panel {
  const plot = el("div", { class: "plot" });
  const empty = el("p", { class: "empty" }, "No data in this range yet.");
  const root = el("section", { class: "chart", "aria-label": title, "data-points": 0 }, el("h3", {}, `${title} (${unit})`), plot, empty);
  let u: uPlot | undefined;
  let marks: Marker[] = [];
  const layer = el("div", { class: "markers", "aria-label": "deploys and rollbacks" });

  const drawMarkers = (p: uPlot) => {
    layer.replaceChildren();
    for (const m of marks) {
      const x = p.valToPos(m.t / 1000, "x");
      if (!(x >= 0 && x <= p.over.clientWidth)) continue;
      const text = `${m.action} → release ${m.release}${m.ok ? "" : " (failed)"}${m.by ? ` by ${m.by}` : ""}, ${when(m.t)}`;
      const mark = el("div", { class: `marker ${m.action}${m.ok ? "" : " failed"}`, role: "img", "aria-label": text, title: text, "data-release": m.release, "data-action": m.action, style: `left:${x}px` }, el("span", { "aria-hidden": "true" }, `${m.action === "rollback" ? "↩" : "▲"} ${m.release}`));
      layer.append(mark);
    }
    if (layer.parentElement !== p.over) p.over.append(layer);
  };

  const make = (data: uPlot.AlignedData) =>
    new uPlot(
      {
        width: Math.max(200, plot.clientWidth || root.clientWidth - 16),
        height: 180,
        legend: { live: true },
        cursor: { drag: { x: false, y: false } },
        scales: { x: { time: true }, y: { range: (_u, min, max) => [Math.min(0, min ?? 0), Math.max(max ?? 1, 1)] } },
        axes: [{ stroke: "#57606a", grid: { stroke: "#eaeef2" } }, { stroke: "#57606a", grid: { stroke: "#eaeef2" }, size: 56 }],
        series: [{}, ...lines.map((l) => ({ label: l.label, stroke: l.colour, width: 2, ...(l.dash ? { dash: l.dash } : {}), spanGaps: true, points: { show: false } }))],
        hooks: { draw: [drawMarkers] },
      },
      data,
      plot,
    );

  // The chart follows its box's width (a narrower window, a scrollbar that came after it was drawn).
  let width = 0;
  const watch = new ResizeObserver(() => {
    if (u && plot.clientWidth && plot.clientWidth !== width) u.setSize({ width: (width = plot.clientWidth), height: 180 });
  });
  watch.observe(plot);

  return {
    root,
    update(chart, markers) {
      marks = markers;
      const data: uPlot.AlignedData = [chart.t, ...lines.map((l) => chart.lines[l.key] ?? chart.t.map(() => null))];
      const points = pointsOf(chart, lines.map((l) => l.key));
      root.dataset.points = String(points);
      empty.hidden = points > 0;
      if (!u) u = make(data);
      else u.setData(data);
      // For a profile (and bench/dashboard): when the page first drew a chart with points, from navigation start.
      if (points > 0 && !performance.getEntriesByName("skiff-first-chart").length) performance.mark("skiff-first-chart");
    },
    destroy() {
      watch.disconnect();
      u?.destroy();
      u = undefined;
    },
  };
}
