// tcp-echo: a plain TCP app (protocol: tcp). Every line a client sends comes
// back as "VERSION LINE", so a caller can tell which release answered.
//   PORT, HOST, VERSION (default dev)
// On SIGTERM it stops accepting, ends every open connection cleanly (FIN, not a
// reset) and exits: a client holding a connection sees it closed, not broken.
"use strict";
const net = require("node:net");

const env = process.env;
const version = env.VERSION || "dev";
const port = Number(env.PORT || 7000);
const log = (msg) => console.log(`${new Date().toISOString()} tcp-echo ${version} ${msg}`);
const open = new Set();

const server = net.createServer((sock) => {
  open.add(sock);
  sock.setNoDelay(true);
  let buf = "";
  sock.on("data", (b) => {
    buf += b.toString("utf8");
    for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
      sock.write(`${version} ${buf.slice(0, i)}\n`);
      buf = buf.slice(i + 1);
    }
    if (buf.length > 65536) sock.destroy(); // no line in 64 KiB: not a client of ours
  });
  // Health checks connect and hang up at once: a reset here is normal.
  sock.on("error", () => {});
  sock.on("close", () => open.delete(sock));
});
server.listen(port, env.HOST || undefined, () => log(`listening on ${env.HOST || "*"}:${port}`));
const stop = () => {
  log(`stopping; ending ${open.size} open connection(s)`);
  server.close(() => process.exit(0));
  for (const s of open) s.end();
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
