// A container's output through the Engine API, with Docker's own timestamp on
// every line: followed while it runs (one long request), or read once up to
// now (before the container is removed). The json-file driver keeps a bounded
// copy (docker.ts: max-size, max-file) until the agent has filed the lines.
import { request, type ClientRequest } from "node:http";

export interface DockerLine {
  /** Docker's time, RFC 3339 with nanoseconds (fixed width: sorts as text). */
  ts: string;
  stream: "out" | "err";
  text: string;
}

/** Docker's "since": seconds with a fraction, from an RFC 3339 time (nanoseconds kept). */
export function dockerSince(ts: string): string {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?Z$/.exec(ts);
  if (!m) return "0";
  return `${Date.parse(`${m[1]}Z`) / 1000}.${(m[2] ?? "0").padEnd(9, "0")}`;
}

/** Splits the multiplexed stream (8-byte frame headers: stream, 3 zeros, size) into lines; returns what is left over. */
export function parseFrames(buf: Buffer, onLine: (l: DockerLine) => void): Buffer {
  let i = 0;
  while (i + 8 <= buf.length) {
    const size = buf.readUInt32BE(i + 4);
    if (i + 8 + size > buf.length) break;
    const payload = buf.toString("utf8", i + 8, i + 8 + size);
    const stream = buf[i] === 2 ? "err" : "out";
    i += 8 + size;
    const sp = payload.indexOf(" ");
    if (sp < 0) continue;
    const text = payload.endsWith("\n") ? payload.slice(sp + 1, -1) : payload.slice(sp + 1);
    onLine({ ts: payload.slice(0, sp), stream, text });
  }
  return buf.subarray(i);
}

export interface Follow {
  close(): void;
  /** Settles when the stream ends (the container stopped) or fails; "gone" when there is no such container. */
  done: Promise<"ended" | "gone">;
}

/** Streams a container's lines after `since` (all when absent); with follow, until it stops or close(). */
export function dockerLogs(socketPath: string, name: string, opts: { since?: string; follow: boolean }, onLine: (l: DockerLine) => void): Follow {
  let req: ClientRequest | undefined;
  const done = new Promise<"ended" | "gone">((settle) => {
    const resolve = () => settle("ended");
    const q = `stdout=1&stderr=1&timestamps=1&follow=${opts.follow ? 1 : 0}${opts.since ? `&since=${dockerSince(opts.since)}` : ""}`;
    req = request({ socketPath, method: "GET", path: `/containers/${encodeURIComponent(name)}/logs?${q}` }, (res) => {
      if ((res.statusCode ?? 500) >= 400) {
        res.resume();
        res.on("end", () => settle(res.statusCode === 404 ? "gone" : "ended"));
        return;
      }
      let rest: Buffer = Buffer.alloc(0);
      res.on("data", (c: Buffer) => (rest = parseFrames(rest.length ? Buffer.concat([rest, c]) : c, onLine)));
      res.on("end", resolve);
      res.on("error", () => resolve());
      res.on("close", resolve);
    });
    req.on("error", () => resolve());
    req.end();
  });
  return { close: () => req?.destroy(), done };
}
