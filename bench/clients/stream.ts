// A long streaming (chunked) response from the app's /stream: one line every
// 200 ms until the server ends it. Clean: the response completed (its final
// chunk arrived); reset: the connection ended in the middle of it.
import { get } from "node:http";
import { sessionRecord, type SessionOutcome } from "./sessions.ts";

export function openStream(baseUrl: string, signal: AbortSignal): Promise<SessionOutcome> {
  return new Promise((resolve) => {
    const s = sessionRecord(resolve);
    let stopped = false;
    const req = get(new URL("stream?ms=200", baseUrl), { agent: false });
    const onAbort = () => {
      stopped = true;
      req.destroy();
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
    req.on("error", (e: NodeJS.ErrnoException) => {
      signal.removeEventListener("abort", onAbort);
      s.finish(stopped ? "stopped" : s.version === undefined ? "refused" : "reset", e.code ?? e.message);
    });
    req.on("response", (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        return s.finish("refused", `HTTP ${res.statusCode}`);
      }
      let pending = "";
      let last = "";
      let lines = 0;
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        pending += chunk;
        const parts = pending.split("\n");
        pending = parts.pop()!;
        for (const l of parts) {
          lines++;
          last = l;
          if (s.version === undefined) s.version = /^tick \d+ from (\S+)/.exec(l)?.[1] ?? "?";
        }
      });
      res.on("error", () => {});
      res.on("close", () => {
        signal.removeEventListener("abort", onAbort);
        if (stopped) s.finish("stopped");
        else if (res.complete) s.finish("clean", `${lines} lines, last "${last}"`);
        else s.finish("reset", `response cut after ${lines} lines, last "${last}"`);
      });
    });
  });
}
