// hello-node: the example app in Node, with the same endpoints and switches as
// examples/hello (C). Used where a peer needs a Node app (PM2 cluster mode) and
// by the process runtime.
//   PORT, HOST, VERSION, CRASH_AT_BOOT=1, NEVER_HEALTHY=1, HEALTHY_AFTER=S, DIE_AFTER=S, SLOW_MS=N,
//   FAIL_IF_EXISTS=PATH (GET / answers 500 while PATH exists: an app made to fail and recover at run time)
// GET / · /healthz · /version · /env/NAME · /slow?ms=N (answers after N ms) · /alloc?mb=N (allocates and
// keeps N MB, to hit a memory limit) · /crash (exits with code 3) · /file?path=P (reads P, relative to the
// working directory) · /append?path=P&data=D (appends a line, answers the whole file) · /stream?ms=N (a
// chunked response, one line "tick K from VERSION" every N ms, until the client leaves or the app stops) ·
// /print?line=L[&stream=err] (prints L on its own line to stdout or stderr, answers which instance did) ·
// /ws (WebSocket, RFC 6455 by hand: greets with "hello from VERSION", echoes text frames, answers pings).
// SIGTERM/SIGINT: stop accepting, finish requests in flight, end each stream (its last line is "end") and close
// each WebSocket with a close frame (1001 going away), exit 0.
"use strict";
const http = require("node:http");
const os = require("node:os");

const env = process.env;
const version = env.VERSION || "dev";
const started = Date.now();
const healthyAfterMs = Number(env.HEALTHY_AFTER || 0) * 1000;
const neverHealthy = env.NEVER_HEALTHY === "1";
const slowMs = Number(env.SLOW_MS || 0);
const log = (msg) => console.log(`${new Date().toISOString()} hello-node[${version}] ${msg}`);

if (env.CRASH_AT_BOOT === "1") {
  log("CRASH_AT_BOOT=1: exiting before listening");
  process.exit(1);
}

const healthy = () => !neverHealthy && Date.now() - started >= healthyAfterMs;
let stopping = false;
const send = (res, status, body) => {
  // Once stopping, each answer closes its connection, so the server can finish and exit.
  const headers = { "Content-Type": "text/plain", "Content-Length": Buffer.byteLength(body), "X-Version": version };
  if (stopping) headers.Connection = "close";
  res.writeHead(status, headers);
  res.end(body);
};

const hold = [];
const streams = new Set();
const server = http.createServer((req, res) => {
  const path = req.url || "/";
  if (path === "/healthz") return send(res, healthy() ? 200 : 503, healthy() ? "ok\n" : "starting\n");
  if (path === "/version") return send(res, 200, `${version}\n`);
  if (path.startsWith("/env/")) {
    const v = env[decodeURIComponent(path.slice(5))];
    return v === undefined ? send(res, 404, "not set\n") : send(res, 200, v);
  }
  const q = new URL(path, "http://x").searchParams;
  if (path.startsWith("/slow")) return setTimeout(() => send(res, 200, `slow ${q.get("ms")} ms from ${version}\n`), Number(q.get("ms") || 1000));
  if (path.startsWith("/alloc")) {
    const mb = Number(q.get("mb") || 1);
    for (let i = 0; i < mb; i++) hold.push(Buffer.alloc(1024 * 1024, 1));
    return send(res, 200, `holding ${hold.length} MB\n`);
  }
  if (path.startsWith("/file?")) {
    try {
      return send(res, 200, require("node:fs").readFileSync(q.get("path"), "utf8"));
    } catch (e) {
      return send(res, 404, `${e.code}\n`);
    }
  }
  if (path.startsWith("/append?")) {
    const fs = require("node:fs");
    try {
      fs.appendFileSync(q.get("path"), `${q.get("data")}\n`);
      return send(res, 200, fs.readFileSync(q.get("path"), "utf8"));
    } catch (e) {
      return send(res, 500, `${e.code}\n`);
    }
  }
  if (path.startsWith("/print?")) {
    // Prints the line as given (for the logs tests), to stderr with stream=err.
    (q.get("stream") === "err" ? process.stderr : process.stdout).write(`${q.get("line")}\n`);
    return send(res, 200, `printed by ${env.SKIFF_INSTANCE || os.hostname()}\n`);
  }
  if (path.startsWith("/stream")) return stream(res, Math.max(10, Number(q.get("ms") || 200)));
  if (path === "/crash") {
    log("/crash: exiting with code 3");
    process.exit(3);
  }
  if (path === "/" || path.startsWith("/?")) {
    if (env.FAIL_IF_EXISTS && require("node:fs").existsSync(env.FAIL_IF_EXISTS)) return send(res, 500, `failing: ${env.FAIL_IF_EXISTS} exists\n`);
    const reply = () => send(res, 200, `hello from ${version} on ${os.hostname()}\n`);
    return slowMs ? setTimeout(reply, slowMs) : reply();
  }
  send(res, 404, "not found\n");
});
server.keepAliveTimeout = 120_000;

/** Chunked lines until the client goes or the app stops: then the response ends cleanly (the final chunk). */
function stream(res, everyMs) {
  res.writeHead(200, { "Content-Type": "text/plain", "X-Version": version, "Cache-Control": "no-store" });
  let k = 0;
  const timer = setInterval(() => res.write(`tick ${++k} from ${version}\n`), everyMs);
  const socket = res.socket;
  // Ended because the app stops: the connection goes too (it would idle in keep-alive and hold up the exit).
  const s = { end: () => (clearInterval(timer), streams.delete(s), res.end("end\n", () => socket?.end())) };
  streams.add(s);
  res.write(`tick 0 from ${version}\n`);
  res.on("close", () => (clearInterval(timer), streams.delete(s)));
}

// ---- WebSocket (RFC 6455), just enough for the bench: unfragmented frames, text, ping, close. ----
const sockets = new Set();
const frame = (opcode, payload) => {
  const n = payload.length;
  const head = n < 126 ? Buffer.from([0x80 | opcode, n]) : n < 65536 ? Buffer.from([0x80 | opcode, 126, n >> 8, n & 255]) : null;
  if (!head) throw new Error("frame too long for this test app");
  return Buffer.concat([head, payload]);
};
const closeFrame = (code) => frame(0x8, Buffer.from([code >> 8, code & 255]));

server.on("upgrade", (req, socket) => {
  const key = req.headers["sec-websocket-key"];
  if (req.url !== "/ws" || String(req.headers.upgrade).toLowerCase() !== "websocket" || !key) {
    return socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
  }
  const accept = require("node:crypto").createHash("sha1").update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest("base64");
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\nX-Version: ${version}\r\n\r\n`);
  const ws = { socket, closing: false };
  ws.close = (code) => {
    if (ws.closing) return;
    ws.closing = true;
    socket.write(closeFrame(code));
    // The client answers with its own close frame, then the TCP connection ends; don't wait forever for it.
    setTimeout(() => socket.destroy(), 2000).unref();
  };
  sockets.add(ws);
  socket.on("close", () => sockets.delete(ws));
  socket.on("error", () => {});
  socket.write(frame(0x1, Buffer.from(`hello from ${version}`)));
  let buf = Buffer.alloc(0);
  socket.on("data", (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    for (;;) {
      if (buf.length < 2) return;
      const opcode = buf[0] & 0x0f;
      let len = buf[1] & 0x7f;
      let at = 2;
      if (len === 126) {
        if (buf.length < 4) return;
        len = buf.readUInt16BE(2);
        at = 4;
      } else if (len === 127) return socket.destroy(); // never sent by the bench's clients
      const masked = buf[1] & 0x80;
      if (buf.length < at + (masked ? 4 : 0) + len) return;
      const mask = masked ? buf.subarray(at, at + 4) : null;
      at += masked ? 4 : 0;
      const payload = Buffer.from(buf.subarray(at, at + len));
      if (mask) for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i & 3];
      buf = buf.subarray(at + len);
      if (opcode === 0x1 && !ws.closing) socket.write(frame(0x1, payload));
      else if (opcode === 0x9) socket.write(frame(0xa, payload));
      else if (opcode === 0x8) {
        if (!ws.closing) socket.write(frame(0x8, payload.subarray(0, 2)));
        ws.closing = true;
        return socket.end();
      }
    }
  });
});

const port = Number(env.PORT || 3000);
server.listen(port, env.HOST || undefined, () => {
  log(`listening on ${env.HOST || "*"}:${port} (healthy after ${healthyAfterMs / 1000}s${neverHealthy ? ", never healthy" : ""})`);
  if (process.send) process.send("ready"); // PM2 wait_ready
});

if (env.DIE_AFTER) {
  setTimeout(() => {
    log(`DIE_AFTER=${env.DIE_AFTER}: exiting`);
    process.exit(1);
  }, healthyAfterMs + Number(env.DIE_AFTER) * 1000).unref();
}

const stop = () => {
  if (stopping) return;
  stopping = true;
  log("stopping: finishing requests in flight");
  server.close(() => process.exit(0));
  server.closeIdleConnections?.();
  for (const s of streams) s.end();
  for (const ws of sockets) ws.close(1001);
  setTimeout(() => process.exit(0), 10_000).unref();
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
