// A drain waits for the instance's open sessions; an empty or broken Runtime
// API answer meanwhile (HAProxy busy or reloading) is not "drained" and not a
// crash after the switch: the drain asks again until its timeout. A real unix
// socket stands in for HAProxy's (the fault cannot be caused on demand with a real one).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { it } from "node:test";
import { ProxyController } from "../../src/agent/proxy.ts";

it("drainAndRemove keeps polling through empty `show stat` answers, then takes the slot out", async () => {
  const dir = mkdtempSync(join(tmpdir(), "skiff-drain-"));
  const sock = join(dir, "haproxy.sock");
  const state = { httpPort: 80, backends: [{ name: "skiff_p_web", routes: [{ path: "/" }], healthPath: "/healthz", intervalMs: 1000, slots: [{ name: "s1", addr: "127.0.0.1", port: 20001, state: "ready", instance: "old" }] }] };
  writeFileSync(join(dir, "state.json"), JSON.stringify(state));
  let stats = 0;
  const sent: string[] = [];
  const server = createServer((c) =>
    c.on("data", (b) => {
      const cmd = b.toString();
      sent.push(cmd.trim());
      if (!cmd.startsWith("show stat")) return void c.end("\n");
      stats++;
      // Three empty answers, then one session still open, then none.
      c.end(stats <= 3 ? "" : `# pxname,svname,scur\nskiff_p_web,s1,${stats === 4 ? 1 : 0}\n`);
    }),
  );
  await new Promise<void>((r) => server.listen(sock, r));
  try {
    const proxy = new ProxyController({ dir, statsSocket: sock, pidFile: join(dir, "haproxy.pid") }, 80);
    const r = await proxy.drainAndRemove("skiff_p_web", "old", 10_000);
    assert.equal(r.leftSessions, 0);
    assert.ok(stats >= 5, `asked ${stats} times`);
    assert.ok(sent.includes("set server skiff_p_web/s1 state drain"), sent.join(" | "));
    assert.ok(sent.some((s) => s === "set server skiff_p_web/s1 state maint"), sent.join(" | "));
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
