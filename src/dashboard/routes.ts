// The dashboard's HTTP core: a request in, a response out, no socket (serve.ts
// is the node:http adapter; tests call this in-process). Every path starts
// with the token; without it the answer is a bare 404, the same as for a path
// that does not exist. Pages read the poller's store (views.ts); the one
// change it makes, a rollback, goes through the API like `skiff rollback`.
import { timingSafeEqual } from "node:crypto";
import type { LogLine, LogsOptions } from "../api/logs.ts";
import type { RollbackOptions, RollbackResult } from "../api/skiff.ts";
import { UserError } from "../errors.ts";
import type { LogTails } from "./log-tail.ts";
import type { Poller } from "./poller.ts";
import { appView, isRange, machineView, overview, RANGES } from "./views.ts";

export interface Req {
  method: string;
  /** The path and query, as the request line has them. */
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body?: string;
}

export interface Res {
  status: number;
  headers: Record<string, string>;
  body: string | Buffer;
}

export interface Asset {
  type: string;
  body: Buffer;
}

export interface DashboardDeps {
  token: string;
  /** index.html, app.js, app.css. */
  assets: Map<string, Asset>;
  poller: Poller;
  tails: LogTails;
  api: { rollback(opts: RollbackOptions): Promise<RollbackResult>; logs(opts: LogsOptions): AsyncGenerator<LogLine> };
  apps: string[];
  machines: string[];
  /** Host headers accepted (127.0.0.1:PORT, localhost:PORT): a page of another site that a DNS name of its own
   *  points here is refused. */
  hosts: () => string[];
  now?: () => number;
}

const SECURITY = {
  "Cache-Control": "no-store",
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "X-Frame-Options": "DENY",
  "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
};

const json = (status: number, value: unknown): Res => ({ status, headers: { ...SECURITY, "Content-Type": "application/json; charset=utf-8" }, body: JSON.stringify(value) });
const notFound = (): Res => ({ status: 404, headers: { ...SECURITY, "Content-Type": "text/plain; charset=utf-8" }, body: "not found\n" });
const header = (req: Req, name: string) => {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
};

/** Whether `given` is the token, in time that does not depend on where they differ. */
export function tokenMatches(given: string, token: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function dashboardApp(d: DashboardDeps): (req: Req) => Promise<Res> {
  const now = d.now ?? Date.now;
  let rolling: string | undefined;

  async function api(req: Req, route: string, q: URLSearchParams): Promise<Res> {
    const range = q.get("range") ?? "live";
    if (!isRange(range)) return json(400, { error: `range must be one of ${Object.keys(RANGES).join(", ")}` });
    if (req.method === "GET" && route === "project") {
      await d.poller.ask();
      return json(200, { ...overview(d.poller.store, now()), rolling: rolling ?? null });
    }
    if (req.method === "GET" && route === "app") {
      const app = q.get("name") ?? "";
      if (!d.apps.includes(app)) return json(404, { error: `no app "${app}" in the project`, apps: d.apps });
      await d.poller.ask({ coarse: range === "24h" });
      return json(200, { ...appView(d.poller.store, app, range, now()), rolling: rolling ?? null });
    }
    if (req.method === "GET" && route === "machine") {
      const machine = q.get("name") ?? "";
      if (!d.machines.includes(machine)) return json(404, { error: `no machine "${machine}" in the project`, machines: d.machines });
      await d.poller.ask({ coarse: range === "24h" });
      return json(200, machineView(d.poller.store, machine, range, now()));
    }
    if (req.method === "GET" && route === "logs") {
      const app = q.get("app") ?? "";
      if (!d.apps.includes(app)) return json(404, { error: `no app "${app}" in the project` });
      return json(200, d.tails.read(app, Number(q.get("after") ?? -1)));
    }
    if (req.method === "GET" && route === "logs/search") return searchLogs(q, range);
    if (route === "rollback") return rollback(req, q);
    return notFound();
  }

  /** A grep over the range's past lines, on the machines (as `skiff logs --grep --since`). */
  async function searchLogs(q: URLSearchParams, range: keyof typeof RANGES): Promise<Res> {
    const app = q.get("app") ?? "";
    if (!d.apps.includes(app)) return json(404, { error: `no app "${app}" in the project` });
    const grep = q.get("grep") ?? "";
    const lines: LogLine[] = [];
    const missing: string[] = [];
    try {
      for await (const l of d.api.logs({ app, grep: grep || undefined, since: `${RANGES[range].spanMs / 1000}s`, tail: 200, onUnreachable: (m) => void missing.push(m) })) lines.push(l);
    } catch (e) {
      if (e instanceof UserError) return json(400, { error: e.message });
      throw e;
    }
    return json(200, { lines, missing });
  }

  /** GET: what a rollback would do (its plan: no lock, nothing changed); POST {app, to}: do it, to that release. */
  async function rollback(req: Req, q: URLSearchParams): Promise<Res> {
    if (req.method === "GET") {
      const app = q.get("app") ?? "";
      if (!d.apps.includes(app)) return json(404, { error: `no app "${app}" in the project` });
      try {
        const r = await d.api.rollback({ apps: [app], dryRun: true });
        const plan = r.plan.apps.find((a) => a.app === app);
        return json(200, { app, to: plan?.to ?? null, machines: plan?.machines ?? [], skipped: r.plan.skipped });
      } catch (e) {
        if (e instanceof UserError) return json(409, { error: e.message, ...(e.hint ? { hint: e.hint } : {}) });
        throw e;
      }
    }
    if (req.method !== "POST") return json(405, { error: "GET or POST" });
    // A form of another site cannot send JSON without asking first (CORS), and a script of another origin says so.
    if (!/^application\/json\b/.test(header(req, "content-type") ?? "")) return json(415, { error: "send JSON" });
    const origin = header(req, "origin");
    if (origin !== undefined && !d.hosts().some((h) => origin === `http://${h}`)) return json(403, { error: "another origin" });
    let body: { app?: unknown; to?: unknown };
    try {
      body = JSON.parse(req.body ?? "") as typeof body;
    } catch {
      return json(400, { error: "the body is not JSON" });
    }
    const { app, to } = body;
    if (typeof app !== "string" || !d.apps.includes(app)) return json(404, { error: `no app ${JSON.stringify(app)} in the project` });
    if (typeof to !== "number" || !Number.isSafeInteger(to) || to < 1) return json(400, { error: "`to` must be a release number" });
    if (rolling) return json(409, { error: `a rollback of ${rolling} from this dashboard is under way` });
    rolling = app;
    try {
      const r = await d.api.rollback({ apps: [app], to });
      const o = r.outcomes.find((x) => x.app === app);
      return json(r.ok ? 200 : 500, { ok: r.ok, app, to, from: o?.from ?? [], ...(o?.result.failure ? { failure: { machine: o.result.failure.machine, reason: o.result.failure.reason } } : {}) });
    } catch (e) {
      // The lock held by a deploy, a release no longer there: the person's to read, not a crash.
      if (e instanceof UserError) return json(409, { error: e.message, ...(e.hint ? { hint: e.hint } : {}) });
      throw e;
    } finally {
      rolling = undefined;
      d.poller.refresh();
    }
  }

  return async (req) => {
    const host = header(req, "host") ?? "";
    if (!d.hosts().includes(host)) return { status: 421, headers: { ...SECURITY, "Content-Type": "text/plain; charset=utf-8" }, body: "this dashboard answers on 127.0.0.1 only\n" };
    const url = new URL(req.url, "http://dashboard.invalid");
    const [, first = "", ...rest] = url.pathname.split("/");
    if (!tokenMatches(first, d.token)) return notFound();
    const path = rest.join("/");
    if (rest.length === 0) return { status: 308, headers: { ...SECURITY, Location: `/${d.token}/` }, body: "" };
    if (path.startsWith("api/")) {
      try {
        return await api(req, path.slice(4), url.searchParams);
      } catch (e) {
        return json(500, { error: `bug in skiff's dashboard: ${String((e as Error)?.message ?? e)}` });
      }
    }
    const asset = d.assets.get(path === "" ? "index.html" : path);
    if (!asset || req.method !== "GET") return notFound();
    return { status: 200, headers: { ...SECURITY, "Content-Type": asset.type }, body: asset.body };
  };
}
