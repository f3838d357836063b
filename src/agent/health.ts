// One HTTP health check: 2xx/3xx within the timeout is healthy. The request is
// the one HAProxy's `option httpchk GET <path>` sends (HTTP/1.0, no Host
// header), so an instance that passes the agent's gate passes HAProxy's check
// too: the agent marks a gated instance UP in HAProxy at once (proxy.ts), and an
// app that answered HTTP/1.1 with a Host but refused HAProxy's request would
// have switched and then been taken out by HAProxy. Plain sockets: no HTTP
// machinery for a probe the supervisor makes every few seconds.
import { createConnection } from "node:net";

export interface CheckResult {
  ok: boolean;
  /** "HTTP 503", "ECONNREFUSED", "timeout after 2000 ms" … */
  detail: string;
}

export function httpCheck(host: string, port: number, path: string, timeoutMs: number): Promise<CheckResult> {
  return new Promise((resolve) => {
    let head = "";
    let done = false;
    const finish = (r: CheckResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(r);
    };
    const sock = createConnection({ host, port });
    const timer = setTimeout(() => finish({ ok: false, detail: `timeout after ${timeoutMs} ms` }), timeoutMs);
    sock.setNoDelay(true);
    sock.on("connect", () => sock.write(`GET ${path} HTTP/1.0\r\nUser-Agent: skiff-agent health\r\n\r\n`));
    sock.on("data", (b: Buffer) => {
      head += b.toString("latin1");
      const end = head.indexOf("\n");
      if (end < 0 && head.length < 1024) return;
      const m = /^HTTP\/\d(?:\.\d)? (\d{3})/.exec(head);
      if (!m) return finish({ ok: false, detail: `not an HTTP answer: ${JSON.stringify(head.slice(0, 40))}` });
      const code = Number(m[1]);
      finish({ ok: code >= 200 && code < 400, detail: `HTTP ${code}` });
    });
    sock.on("error", (e: NodeJS.ErrnoException) => finish({ ok: false, detail: e.code ?? e.message }));
    sock.on("end", () => finish({ ok: false, detail: head ? `not an HTTP answer: ${JSON.stringify(head.slice(0, 40))}` : "closed without an answer" }));
  });
}

/** A TCP app's check when it gives no HTTP path: a connection accepted within the timeout (HAProxy's
 *  `option tcp-check` with no rules checks the same). Nothing is sent: the app sees a connect and a close. */
export function tcpCheck(host: string, port: number, timeoutMs: number): Promise<CheckResult> {
  return new Promise((resolve) => {
    const sock = createConnection({ host, port });
    const finish = (r: CheckResult) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => finish({ ok: false, detail: `timeout after ${timeoutMs} ms` }), timeoutMs);
    sock.on("connect", () => finish({ ok: true, detail: "connected" }));
    sock.on("error", (e: NodeJS.ErrnoException) => finish({ ok: false, detail: e.code ?? e.message }));
  });
}

/** The check a release asks for: HTTP when it names a path, else a TCP connect. */
export const healthCheck = (host: string, port: number, path: string | undefined, timeoutMs: number): Promise<CheckResult> => (path === undefined ? tcpCheck(host, port, timeoutMs) : httpCheck(host, port, path, timeoutMs));
