// One HTTP health check: 2xx/3xx within the timeout is healthy.
import { request } from "node:http";

export interface CheckResult {
  ok: boolean;
  /** "HTTP 503", "ECONNREFUSED", "timeout after 2000 ms" … */
  detail: string;
}

export function httpCheck(host: string, port: number, path: string, timeoutMs: number): Promise<CheckResult> {
  return new Promise((resolve) => {
    const req = request({ host, port, path, method: "GET", agent: false, timeout: timeoutMs, headers: { "User-Agent": "skiff-agent health", Connection: "close" } }, (res) => {
      res.resume();
      const code = res.statusCode ?? 0;
      resolve({ ok: code >= 200 && code < 400, detail: `HTTP ${code}` });
    });
    req.on("timeout", () => {
      req.destroy();
      resolve({ ok: false, detail: `timeout after ${timeoutMs} ms` });
    });
    req.on("error", (e: NodeJS.ErrnoException) => resolve({ ok: false, detail: e.code ?? e.message }));
    req.end();
  });
}
