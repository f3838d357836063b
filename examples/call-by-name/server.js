// call-by-name: an app that calls another app of its project by its internal
// name (docs/networking.md, "Internal names") and answers with what it got.
//   PORT, HOST, CALL (default http://users.internal/)
// GET / · /?to=NAME (calls http://NAME/ instead, e.g. users.myproject.internal) · /healthz (its own health:
// never the called app's, so a deploy of one does not hold up the other)
// The called app's answer comes back as it was (status, body, X-Version); a failed call is a 502 that says why.
"use strict";
const http = require("node:http");

const env = process.env;
const target = env.CALL || "http://users.internal/";
const port = Number(env.PORT || 3000);
const log = (msg) => console.log(`${new Date().toISOString()} call-by-name ${msg}`);

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url || "/", "http://x");
  if (url.pathname === "/healthz") return void res.end("ok\n");
  if (url.pathname !== "/") {
    res.writeHead(404);
    return void res.end("not found\n");
  }
  const to = url.searchParams.get("to");
  const call = to && /^[a-z0-9.-]+$/.test(to) ? `http://${to}/` : target;
  try {
    const r = await fetch(call, { signal: AbortSignal.timeout(10_000) });
    const body = await r.text();
    // The called app's version header too: a load client counts the answers per version.
    const version = r.headers.get("x-version");
    res.writeHead(r.status, { "Content-Type": "text/plain", ...(version ? { "X-Version": version } : {}) });
    res.end(body);
  } catch (e) {
    log(`${call}: ${e.cause?.message ?? e.message}`);
    res.writeHead(502, { "Content-Type": "text/plain" });
    res.end(`call-by-name: ${call} failed: ${e.cause?.message ?? e.message}\n`);
  }
});
server.keepAliveTimeout = 120_000;
server.listen(port, env.HOST || undefined, () => log(`listening on ${env.HOST || "*"}:${port}, calling ${target}`));
const stop = () => server.close(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
