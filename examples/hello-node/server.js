// hello-node: the example app in Node, with the same endpoints and switches as
// examples/hello (C). Used where a peer needs a Node app (PM2 cluster mode) and
// by the process runtime.
//   PORT, HOST, VERSION, CRASH_AT_BOOT=1, NEVER_HEALTHY=1, HEALTHY_AFTER=S, DIE_AFTER=S, SLOW_MS=N
// GET / · /healthz · /version · /env/NAME · /slow?ms=N (answers after N ms) · /alloc?mb=N (allocates and
// keeps N MB, to hit a memory limit) · /crash (exits with code 3) · /file?path=P (reads P, relative to the
// working directory) · /append?path=P&data=D (appends a line, answers the whole file).
// SIGTERM/SIGINT: stop accepting, finish requests in flight, exit 0.
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
  if (path === "/crash") {
    log("/crash: exiting with code 3");
    process.exit(3);
  }
  if (path === "/" || path.startsWith("/?")) {
    const reply = () => send(res, 200, `hello from ${version} on ${os.hostname()}\n`);
    return slowMs ? setTimeout(reply, slowMs) : reply();
  }
  send(res, 404, "not found\n");
});
server.keepAliveTimeout = 120_000;

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
  setTimeout(() => process.exit(0), 10_000).unref();
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
