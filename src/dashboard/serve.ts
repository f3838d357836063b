// `skiff dashboard`'s server: node:http on 127.0.0.1 only, in front of the
// request → response core (routes.ts), with the page's files that the build
// bundled (dist/dashboard/: the page's script with uPlot, its CSS, its HTML),
// so the page needs nothing from the internet.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Skiff } from "../api/skiff.ts";
import { UserError } from "../errors.ts";
import { LogTails } from "./log-tail.ts";
import { Poller } from "./poller.ts";
import { dashboardApp, type Asset } from "./routes.ts";

const TYPES: Record<string, string> = { "index.html": "text/html; charset=utf-8", "app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8" };

/** dist/dashboard/ beside the bundled CLI (dist/cli.js or one of its chunks), or in a checkout run from source. */
export function loadAssets(): Map<string, Asset> {
  const dirs = ["./dashboard/", "../dashboard/", "../../dist/dashboard/"].map((d) => fileURLToPath(new URL(d, import.meta.url)));
  const dir = dirs.find((d) => d.endsWith("dist/dashboard/") && existsSync(join(d, "index.html")));
  if (!dir) throw new UserError("the dashboard's page (dist/dashboard/) is missing", { hint: "run `npm run build` in the skiff checkout" });
  return new Map(Object.entries(TYPES).map(([name, type]) => [name, { type, body: readFileSync(join(dir, name)) }]));
}

export interface Dashboard {
  url: string;
  server: Server;
  close(): Promise<void>;
}

export interface DashboardOptions {
  /** 0 (default): any free port. */
  port?: number;
  /** Between two polls of the machines (default 5 s). */
  intervalMs?: number;
}

export async function startDashboard(skiff: Skiff, opts: DashboardOptions = {}): Promise<Dashboard> {
  const token = randomBytes(24).toString("base64url");
  const project = skiff.project;
  const poller = new Poller(skiff, { name: project.name, environment: project.environment }, { intervalMs: opts.intervalMs ?? 5000, idleMs: 30_000 });
  const tails = new LogTails(skiff, { keep: 500, idleMs: 30_000, intervalMs: 2000 });
  let port = 0;
  const app = dashboardApp({ token, assets: loadAssets(), poller, tails, api: skiff, apps: Object.keys(project.apps), machines: Object.keys(project.machines), hosts: () => [`127.0.0.1:${port}`, `localhost:${port}`] });
  const server = createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (c: string) => {
      body += c;
      // Requests carry a release number at most.
      if (body.length > 64 * 1024) req.destroy();
    });
    req.on("end", () => {
      app({ method: req.method ?? "GET", url: req.url ?? "/", headers: req.headers, body }).then(
        (r) => res.writeHead(r.status, r.headers).end(r.body),
        () => res.writeHead(500).end(),
      );
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) => reject(e.code === "EADDRINUSE" ? new UserError(`port ${opts.port} on 127.0.0.1 is taken`, { hint: "give another with --port, or leave --port out for any free one" }) : e));
    server.listen(opts.port ?? 0, "127.0.0.1", () => resolve());
  });
  port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/${token}/`,
    server,
    close: async () => {
      poller.stop();
      tails.stop();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

/**
 * Opens the page in the desktop's browser. Not by its URL in argv (`ps` shows argv to every local user, and the
 * token with it): by a file only this user can read, which sends the browser on. Returns the function that
 * removes that file.
 */
export function openBrowser(url: string): () => void {
  const dir = mkdtempSync(join(tmpdir(), "skiff-dashboard-"));
  const file = join(dir, "open.html");
  writeFileSync(file, `<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="0;url=${url}"><title>skiff dashboard</title><a href="${url}">skiff dashboard</a>\n`, { mode: 0o600 });
  const [cmd, args] = process.platform === "darwin" ? ["open", [file]] : process.platform === "win32" ? ["cmd", ["/c", "start", "", file]] : ["xdg-open", [file]];
  try {
    const child = spawn(cmd, args as string[], { detached: true, stdio: "ignore" });
    child.on("error", () => {});
    child.unref();
  } catch {
    // No browser to open: the URL printed is enough.
  }
  return () => rmSync(dir, { recursive: true, force: true });
}
