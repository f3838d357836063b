// tcp-caller: an HTTP app that calls a TCP app of its project by its internal
// name (docs/networking.md, "TCP apps"). Each request opens a NEW connection to
// CALL_TCP, sends a canary line and checks the echo ("VERSION canary…").
//   PORT, HOST, CALL_TCP (default echo.internal:7000)
// GET / → 200 "echo VERSION ok" with X-Version: VERSION · a failed or wrong echo → 502 saying why
// GET /healthz → its own health (never the called app's)
"use strict";
const http = require("node:http");
const net = require("node:net");
const { randomBytes } = require("node:crypto");

const env = process.env;
const [callHost, callPort] = (env.CALL_TCP || "echo.internal:7000").split(":");
const port = Number(env.PORT || 3000);
const log = (msg) => console.log(`${new Date().toISOString()} tcp-caller ${msg}`);

/** One connection, one canary line, one answer. */
function echo() {
  return new Promise((resolve, reject) => {
    const canary = `canary-${randomBytes(8).toString("hex")}`;
    const sock = net.connect({ host: callHost, port: Number(callPort) });
    let buf = "";
    const timer = setTimeout(() => done(new Error("no answer within 5 s")), 5000);
    const done = (err, value) => {
      clearTimeout(timer);
      sock.destroy();
      err ? reject(err) : resolve(value);
    };
    sock.setNoDelay(true);
    sock.on("connect", () => sock.write(`${canary}\n`));
    sock.on("data", (b) => {
      buf += b.toString("utf8");
      const i = buf.indexOf("\n");
      if (i < 0) return;
      const [version, got] = buf.slice(0, i).split(" ");
      if (got !== canary) return done(new Error(`echo answered ${JSON.stringify(buf.slice(0, i))}, not the canary`));
      done(null, version);
    });
    sock.on("error", (e) => done(e));
    sock.on("end", () => done(new Error(`closed before answering (${JSON.stringify(buf)})`)));
  });
}

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url || "/", "http://x");
  if (url.pathname === "/healthz") return void res.end("ok\n");
  if (url.pathname !== "/") {
    res.writeHead(404);
    return void res.end("not found\n");
  }
  try {
    const version = await echo();
    res.writeHead(200, { "Content-Type": "text/plain", "X-Version": version });
    res.end(`echo ${version} ok\n`);
  } catch (e) {
    log(`${callHost}:${callPort}: ${e.code || e.message}`);
    res.writeHead(502, { "Content-Type": "text/plain" });
    res.end(`tcp-caller: ${callHost}:${callPort} failed: ${e.code || e.message}\n`);
  }
});
server.keepAliveTimeout = 120_000;
server.listen(port, env.HOST || undefined, () => log(`listening on ${env.HOST || "*"}:${port}, calling ${callHost}:${callPort}`));
const stop = () => server.close(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
