// skiff status: what runs where — release, instances, health, restarts, uptime — each app's internal URL, and the HTTPS certificates.
import { isUnreachable } from "../api/status.ts";
import { skiffFor, type Ctx } from "./context.ts";
import { renderCerts } from "./status-certs.ts";
import { table } from "./table.ts";

export type { AppStatus as AppView } from "../api/status.ts";

const uptime = (since: string) => {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(since)) / 1000));
  return s < 120 ? `${s}s` : s < 7200 ? `${Math.round(s / 60)}m` : `${Math.round(s / 3600)}h`;
};

export async function statusCommand(ctx: Ctx, app: string | undefined): Promise<number> {
  const machines = await skiffFor(ctx).status({ app });
  if (ctx.json) {
    ctx.out(JSON.stringify(machines));
  } else {
    const rows: string[][] = [];
    for (const m of machines) {
      if (isUnreachable(m)) {
        rows.push(["-", m.machine, "-", "-", m.problem, "-", "-", "-"]);
        continue;
      }
      for (const a of m.apps) {
        if (!a.instances.length) rows.push([a.app, m.machine, String(a.active ?? "-"), "-", a.active !== null ? "none placed here (served by the other machines)" : "no instances", "-", "-", "-"]);
        for (const i of [...a.instances, ...a.warm.map((w) => ({ ...w, warm: true }))]) {
          const held = a.held && !i.running ? `stopped (skiff accessory stop${a.held.by ? ` by ${a.held.by}` : ""}, ${a.held.at.slice(0, 19).replace("T", " ")})` : undefined;
          const state = "warm" in i ? "standby (HAProxy backup)" : (held ?? (!i.running ? "down" : i.healthy ? "healthy" : `unhealthy: ${i.health}`));
          const last = i.lastExit ? `${i.lastExit.oomKilled ? "OOM killed" : `exit ${i.lastExit.code ?? "?"}`}: ${i.lastExit.reason}` : "";
          rows.push([a.app, m.machine, String(i.release), i.name, state, String(i.restarts), i.running ? uptime(i.startedAt) : "-", last]);
        }
      }
    }
    ctx.out(table(["APP", "MACHINE", "RELEASE", "INSTANCE", "STATE", "RESTARTS", "UPTIME", "LAST EXIT"], rows));
    // Each app once: its internal name is the same on every machine.
    const urls = new Map(machines.flatMap((m) => (isUnreachable(m) ? [] : m.apps.map((a) => [a.app, a.internalUrl] as const))));
    if (urls.size) ctx.out(`\n${table(["APP", "INTERNAL URL (for the project's apps)", "SHORT"], [...urls].map(([a, u]) => [a, u, u.replace(/^(\w+:\/\/)[^.]+\.[^.]+\.internal/, `$1${a}.internal`)]))}`);
    // Public URLs once per app (each route on the first machine's ports: they differ only when the ports do).
    const pub = new Map(machines.flatMap((m) => (isUnreachable(m) ? [] : m.apps.filter((a) => a.publicUrls?.length).map((a) => [a.app, a.publicUrls!.join(" ")] as const))).reverse());
    if (pub.size) ctx.out(`\n${table(["APP", "PUBLIC URL"], [...pub])}`);
    // HTTPS certificates: expiry, kind, who ordered; warnings for what needs a look (api/cert-status.ts).
    const certs = renderCerts(machines, Date.now());
    if (certs.length) ctx.out(`\n${certs.join("\n")}`);
    // Torn writes or stray files the agent skipped: worth a look, never a reason to stop.
    for (const m of machines) if (!isUnreachable(m) && m.damaged.length) ctx.out(`${m.machine}: skipped ${m.damaged.length} damaged record(s) in /var/lib/skiff: ${m.damaged.join("; ")}`);
  }
  return machines.some(isUnreachable) ? 1 : 0;
}
