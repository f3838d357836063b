// skiff top: live numbers per app and machine, refreshed every sampling
// interval on a terminal; printed once (plain) when the output is not one.
import type { TopView } from "../api/metrics.ts";
import { skiffFor, type Ctx } from "./context.ts";
import { table } from "./table.ts";

const pct = (v: number | undefined) => (v === undefined ? "-" : `${(v * 100).toFixed(v < 0.1 ? 1 : 0)}%`);
const num = (v: number | undefined, d = 1) => (v === undefined ? "-" : v.toFixed(d));
const bytes = (v: number | undefined) => (v === undefined ? "-" : v >= 2 ** 30 ? `${(v / 2 ** 30).toFixed(1)}G` : `${Math.round(v / 2 ** 20)}M`);
const ms = (s: number | undefined) => (s === undefined ? "-" : `${Math.round(s * 1000)}ms`);

export function renderTop(v: TopView): string {
  const machines = table(
    ["MACHINE", "CPU", "MEMORY", "DISK", "LOAD"],
    v.machines.map((m) => ("problem" in m ? [m.machine, m.problem, "", "", ""] : [m.machine, pct(m.cpu), m.memoryUsed !== undefined ? `${bytes(m.memoryUsed)}/${bytes(m.memoryTotal)}` : "-", pct(m.diskUsed), num(m.load1, 2)])),
  );
  const apps = table(
    ["APP", "MACHINE", "REQ/S", "5XX", "RESPONSE", "P95", "CONNS", "INSTANCES", "CPU", "MEMORY", "RESTARTS"],
    v.apps
      .sort((a, b) => a.app.localeCompare(b.app) || a.machine.localeCompare(b.machine))
      .map((a) => [a.app, a.machine, num(a.requestsPerS), pct(a.errors), ms(a.responseS), ms(a.p95S), num(a.connections, 0), `${a.instancesUp}/${a.instances} up`, pct(a.cpu), bytes(a.memoryBytes), String(a.restarts)]),
  );
  return `${machines}\n\n${v.apps.length ? apps : "no apps on these machines"}`;
}

export async function topCommand(ctx: Ctx, o: { machine?: string; once?: boolean }): Promise<number> {
  const skiff = skiffFor(ctx);
  const live = !o.once && !ctx.json && process.stdout.isTTY;
  for (;;) {
    const view = await skiff.metrics.current({ machine: o.machine });
    if (ctx.json) ctx.out(JSON.stringify(view));
    else if (!live) ctx.out(renderTop(view));
    else process.stdout.write(`\x1b[H\x1b[2J${new Date(view.at).toISOString().slice(11, 19)}  skiff top — ${ctx.project.name} (every 10 s; Ctrl-C ends)\n\n${renderTop(view)}\n`);
    if (!live) return view.machines.some((m) => "problem" in m) ? 1 : 0;
    await new Promise((r) => setTimeout(r, 10_000));
  }
}
