// hold: one long-lived connection to a tcp-echo, for tests. Sends a line every
// 200 ms and counts the answers per version; when the connection ends (or after
// SECONDS) prints one JSON line: how it ended, when, and what it saw.
//   node hold.js HOST PORT SECONDS
"use strict";
const net = require("node:net");

const [host, port, seconds] = [process.argv[2] || "echo.internal", Number(process.argv[3] || 7000), Number(process.argv[4] || 60)];
const started = Date.now();
const seen = { versions: {}, sent: 0, answered: 0, lastAnswerAt: null };
let buf = "";
let done = false;
const finish = (ended, detail) => {
  if (done) return;
  done = true;
  clearInterval(tick);
  console.log(JSON.stringify({ ended, detail, startedAt: started, endedAt: Date.now(), ...seen }));
  sock.destroy();
  process.exit(0);
};
const sock = net.connect({ host, port }, () => (seen.connectedAt = Date.now()));
sock.setNoDelay(true);
sock.on("data", (b) => {
  buf += b.toString("utf8");
  for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
    const [v] = buf.slice(0, i).split(" ");
    seen.versions[v] = (seen.versions[v] || 0) + 1;
    seen.answered++;
    seen.lastAnswerAt = Date.now();
    buf = buf.slice(i + 1);
  }
});
sock.on("end", () => finish("closed", "the server ended the connection (FIN)"));
sock.on("error", (e) => finish(e.code === "ECONNRESET" ? "reset" : "error", e.code || e.message));
const tick = setInterval(() => {
  if (Date.now() - started > seconds * 1000) return finish("still open", `open after ${seconds}s`);
  if (sock.writable && seen.connectedAt) {
    sock.write(`hold-${seen.sent++}\n`);
  }
}, 200);
