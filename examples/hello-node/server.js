// hello-node: the example app in Node, with the same endpoints and switches as
// examples/hello (C). Used where a peer needs a Node app (PM2 cluster mode) and
// by the process runtime.
//   PORT, VERSION, CRASH_AT_BOOT=1, NEVER_HEALTHY=1, HEALTHY_AFTER=S, DIE_AFTER=S, SLOW_MS=N
// GET / · /healthz · /version · /env/NAME. SIGTERM/SIGINT: stop accepting, finish requests in flight, exit 0.
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
const send = (res, status, body) => {
  res.writeHead(status, { "Content-Type": "text/plain", "Content-Length": Buffer.byteLength(body), "X-Version": version });
  res.end(body);
};

const server = http.createServer((req, res) => {
  const path = req.url || "/";
  if (path === "/healthz") return send(res, healthy() ? 200 : 503, healthy() ? "ok\n" : "starting\n");
  if (path === "/version") return send(res, 200, `${version}\n`);
  if (path.startsWith("/env/")) {
    const v = env[decodeURIComponent(path.slice(5))];
    return v === undefined ? send(res, 404, "not set\n") : send(res, 200, v);
  }
  if (path === "/" || path.startsWith("/?")) {
    const reply = () => send(res, 200, `hello from ${version} on ${os.hostname()}\n`);
    return slowMs ? setTimeout(reply, slowMs) : reply();
  }
  send(res, 404, "not found\n");
});
server.keepAliveTimeout = 120_000;

const port = Number(env.PORT || 3000);
server.listen(port, () => {
  log(`listening on :${port} (healthy after ${healthyAfterMs / 1000}s${neverHealthy ? ", never healthy" : ""})`);
  if (process.send) process.send("ready"); // PM2 wait_ready
});

if (env.DIE_AFTER) {
  setTimeout(() => {
    log(`DIE_AFTER=${env.DIE_AFTER}: exiting`);
    process.exit(1);
  }, healthyAfterMs + Number(env.DIE_AFTER) * 1000).unref();
}

const stop = () => {
  log("stopping: finishing requests in flight");
  server.close(() => process.exit(0));
  server.closeIdleConnections?.();
  setTimeout(() => process.exit(0), 10_000).unref();
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
