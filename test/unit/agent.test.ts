// The agent's RPC, in-process on a temporary unix socket.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { agentInfo, handlers } from "../../src/agent/handlers.ts";
import { lineReader } from "../../src/contracts/protocol.ts";
import { listen } from "../../src/agent/server.ts";

const dir = mkdtempSync(join(tmpdir(), "skiff-agent-test-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function ask(path: string, lines: string[]): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const got: unknown[] = [];
    const c = createConnection(path);
    c.on("error", reject);
    c.on("data", lineReader((v) => (got.push(v), got.length === lines.length && (c.end(), resolve(got)))));
    c.write(lines.join("\n") + "\n");
  });
}

describe("agent RPC", () => {
  it("answers ping, version, state, and an error for an unknown method", async () => {
    const path = join(dir, "a.sock");
    const info = agentInfo(new URL(import.meta.url).pathname, new Date("2026-01-01T00:00:00Z"));
    const server = await listen(path, handlers(info));
    try {
      assert.equal(statSync(path).mode & 0o777, 0o600);
      const res = (await ask(path, ['{"id":1,"method":"ping"}', '{"id":2,"method":"version"}', '{"id":3,"method":"state"}', '{"id":4,"method":"reboot"}'])) as { id: number }[];
      const byId = Object.fromEntries(res.map((r) => [r.id, r])) as Record<number, Record<string, unknown>>;
      assert.deepEqual(byId[1], { id: 1, result: "pong" });
      assert.equal((byId[2]!.result as { sha256: string }).sha256.length, 64);
      assert.equal((byId[2]!.result as { startedAt: string }).startedAt, "2026-01-01T00:00:00.000Z");
      const state = byId[3]!.result as { machine: { memory: { totalBytes: number } }; apps: object };
      assert.ok(state.machine.memory.totalBytes > 0);
      assert.deepEqual(state.apps, []);
      assert.deepEqual(byId[4], { id: 4, error: { message: "unknown method reboot", code: "ENOMETHOD" } });
    } finally {
      server.close();
    }
  });

  it("replaces a stale socket but refuses to take over a live one", async () => {
    const path = join(dir, "b.sock");
    const live = createServer(() => {});
    await new Promise<void>((r) => live.listen(path, r));
    await assert.rejects(listen(path, {}), /another agent is already listening/);
    live.close();
    await new Promise((r) => setTimeout(r, 20));
    // an agent killed with SIGKILL leaves its socket file behind
    const child = spawn(process.execPath, ["-e", `require("net").createServer().listen(${JSON.stringify(path)}, () => console.log("up"))`]);
    await new Promise((r) => child.stdout.once("data", r));
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));
    assert.equal(existsSync(path), true);
    const server = await listen(path, { ping: () => "pong" });
    assert.deepEqual(await ask(path, ['{"id":7,"method":"ping"}']), [{ id: 7, result: "pong" }]);
    server.close();
  });
});
