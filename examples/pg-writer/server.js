// Writes rows into Postgres at DB (host:port, default db.internal:5432) through psql, one insert at a time, and
// says over HTTP what it committed: GET /stats → { committed, failed, lastError, lastId }; GET /acked → the id of
// every row it committed, in order. GET /healthz answers
// 200 while the process runs (the database being down is what the test looks at, not a reason to restart this).
"use strict";
const { createServer } = require("node:http");
const { execFile } = require("node:child_process");

const [host, port] = (process.env.DB || "db.internal:5432").split(":");
const pause = Number(process.env.INTERVAL_MS || 50);
const me = process.env.SKIFF_INSTANCE || "writer";
const stats = { committed: 0, failed: 0, lastError: "", lastId: 0 };
const acked = [];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function psql(sql) {
  const args = ["-h", host, "-p", port, "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-qtAc", sql];
  return new Promise((resolve) =>
    execFile("psql", args, { env: { ...process.env, PGCONNECT_TIMEOUT: "3" }, timeout: 10_000 }, (err, stdout, stderr) =>
      resolve(err ? { ok: false, error: (stderr || err.message).trim() } : { ok: true, out: stdout.trim() }),
    ),
  );
}

async function run() {
  for (;;) {
    const r = await psql("create table if not exists rows (id bigserial primary key, writer text not null, at timestamptz not null default now())");
    if (r.ok) break;
    stats.lastError = r.error;
    await sleep(500);
  }
  for (;;) {
    const r = await psql(`insert into rows (writer) values ('${me}') returning id`);
    if (r.ok) {
      stats.committed++;
      stats.lastId = Number(r.out);
      acked.push(stats.lastId);
    } else {
      stats.failed++;
      stats.lastError = r.error;
      await sleep(200);
    }
    await sleep(pause);
  }
}

createServer((req, res) => {
  if (req.url === "/healthz") return res.end("ok\n");
  res.setHeader("content-type", "application/json");
  if (req.url === "/acked") return res.end(JSON.stringify(acked) + "\n");
  res.end(JSON.stringify({ instance: me, ...stats }) + "\n");
}).listen(Number(process.env.PORT), process.env.HOST || "127.0.0.1");
run();
