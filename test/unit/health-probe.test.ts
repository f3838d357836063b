// The health probe sends what HAProxy's `option httpchk` sends (HTTP/1.0, no Host), so an app that refuses that fails
// the agent's gate instead of passing it and then failing HAProxy's check; answers, refusals and silence each read right.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { createServer as tcp } from "node:net";
import { test } from "node:test";
import { httpCheck } from "../../src/agent/health.ts";
test("the probe: status codes, the request HAProxy sends, a refused port, a silent one", async () => {
  const seen: string[] = [];
  const s = createServer((req, res) => { seen.push(`${req.httpVersion} ${req.headers.host ?? "-"} ${req.url}`); res.statusCode = req.url === "/bad" ? 503 : req.httpVersion === "1.0" && req.url === "/strict" ? 400 : 200; res.end("x"); });
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as { port: number }).port;
  assert.deepEqual(await httpCheck("127.0.0.1", port, "/healthz", 1000), { ok: true, detail: "HTTP 200" });
  assert.deepEqual(await httpCheck("127.0.0.1", port, "/bad", 1000), { ok: false, detail: "HTTP 503" });
  assert.deepEqual(await httpCheck("127.0.0.1", port, "/strict", 1000), { ok: false, detail: "HTTP 400" });
  assert.equal(seen[0], "1.0 - /healthz");
  s.close();
  assert.equal((await httpCheck("127.0.0.1", port, "/", 1000)).detail, "ECONNREFUSED");
  const mute = tcp(() => {}); await new Promise<void>((r) => mute.listen(0, "127.0.0.1", r));
  assert.deepEqual(await httpCheck("127.0.0.1", (mute.address() as { port: number }).port, "/", 200), { ok: false, detail: "timeout after 200 ms" });
  mute.close();
});
