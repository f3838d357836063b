// The agent channel over a socket (no `skiff-agent connect` on the machine):
// answers pass through; an agent that is not there reads as before ("the agent
// is not running on m1: run `skiff setup m1`"); ssh failing to make the forward
// keeps ssh's hint; a non-root login still goes through sudo.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { encode, lineReader } from "../../src/contracts/protocol.ts";
import type { MachineSpec } from "../../src/config/model.ts";
import { AgentClient } from "../../src/transport/agent-client.ts";
import { connectUnix, OpenFailed, socketChannel, type Ending } from "../../src/transport/agent-socket.ts";
import { forwardable, forwardPath } from "../../src/transport/agent-forward.ts";
import { SshTransport } from "../../src/transport/ssh.ts";
import { LocalTransport } from "../../src/transport/local.ts";
import type { AgentStream, RunResult, Transport } from "../../src/transport/types.ts";

const dir = mkdtempSync(join(tmpdir(), "skiff-agent-socket-"));
after(() => rmSync(dir, { recursive: true, force: true }));

// Loopback, a port nothing listens on: the forward's ssh fails at once and goes nowhere else.
const machine = { name: "m1", host: "127.0.0.1", port: 9, user: "root", sshOptions: {} } as unknown as MachineSpec;

/** A transport whose agent channel is `stream`; spawn must not be used. */
function transport(stream: () => AgentStream): Transport {
  return {
    machine,
    viaSsh: true,
    run: async () => ({ stdout: "", stderr: "", code: 0, signal: null }),
    script: async () => ({ stdout: "", stderr: "", code: 0, signal: null }),
    spawn: () => assert.fail("spawned skiff-agent connect although the socket was reachable"),
    agentStream: stream,
    close: async () => {},
  };
}

/** A pretend agent on a unix socket: answers every request with its method name, or hangs up on `hangup`. */
function agent(path: string, opts: { hangup?: boolean } = {}): Promise<Server> {
  const srv = createServer((sock) => {
    if (opts.hangup) return void sock.destroy();
    sock.on("data", lineReader((v) => sock.write(encode({ id: (v as { id: number }).id, result: (v as { method: string }).method }))));
  });
  return new Promise((resolve) => srv.listen(path, () => resolve(srv)));
}

const noAgent: Ending = { code: 3, stderr: "skiff-agent: cannot reach the agent at /run/skiff/agent.sock: ENOENT\n" };

describe("agent channel over a socket", () => {
  it("carries requests and answers, several on one connection", async () => {
    const path = join(dir, "a.sock");
    const srv = await agent(path);
    let checked = 0;
    const c = new AgentClient(transport(() => socketChannel(() => connectUnix(path), async () => (checked++, noAgent))));
    assert.deepEqual(await Promise.all([c.call<string>("state"), c.call<string>("history")]), ["state", "history"]);
    assert.equal(await c.call<string>("ping"), "ping");
    c.close();
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(checked, 0, "a channel that answered and was closed by us needs no check");
    srv.close();
  });

  it("no socket: the check's words, and the hint to run setup", async () => {
    const c = new AgentClient(transport(() => socketChannel(() => connectUnix(join(dir, "missing.sock")), async () => noAgent)));
    await assert.rejects(c.call("state"), (e: Error & { hint?: string }) => {
      assert.match(e.message, /^m1: lost the connection to the agent \(exit 3\)/);
      assert.match(e.message, /cannot reach the agent at \/run\/skiff\/agent.sock: ENOENT/);
      assert.equal(e.hint, "the agent is not running on m1: run `skiff setup m1`");
      return true;
    });
  });

  it("a forward whose far end is not there (accepts, then hangs up): checked, not taken for an answer", async () => {
    const path = join(dir, "hangup.sock");
    const srv = await agent(path, { hangup: true });
    const c = new AgentClient(transport(() => socketChannel(() => connectUnix(path), async () => noAgent)));
    await assert.rejects(c.call("state"), (e: Error & { hint?: string }) => e.hint === "the agent is not running on m1: run `skiff setup m1`");
    srv.close();
  });

  it("ssh failing to make the forward: ssh's exit and its hint, without a second check", async () => {
    let checked = 0;
    const ssh: Ending = { code: 255, stderr: "Host key verification failed.\n" };
    const c = new AgentClient(transport(() => socketChannel(() => Promise.reject(new OpenFailed(ssh)), async () => (checked++, noAgent))));
    await assert.rejects(c.call("state"), (e: Error & { hint?: string }) => {
      assert.match(e.message, /exit 255: ssh itself failed/);
      assert.match(e.hint ?? "", /is not trusted yet: run `skiff machines trust m1`/);
      return true;
    });
    assert.equal(checked, 0);
  });
});

describe("which channel an ssh machine gets", () => {
  class Recording extends SshTransport {
    spawned: string[][] = [];
    override spawn(argv: readonly string[]) {
      this.spawned.push(this.sshArgv(argv));
      return { stdin: null, stdout: null, stderr: null, on: () => this } as never;
    }
    override async run(): Promise<RunResult> {
      return { stdout: "", stderr: "", code: 0, signal: null };
    }
  }
  const ctx = { knownHosts: join(dir, "known_hosts"), socketDir: dir };

  it("a non-root login: `sudo -n skiff-agent connect`, as before (the socket is root's alone)", () => {
    const t = new Recording({ ...machine, user: "deploy" }, ctx);
    t.agentStream();
    assert.equal(t.spawned.length, 1);
    assert.match(t.spawned[0]!.at(-1)!, /^sudo -n -- \/usr\/local\/bin\/skiff-agent connect$/);
  });

  it("root: no process on the machine (the forward), unless the local path cannot be forwarded", async () => {
    const t = new Recording(machine, ctx);
    const s = t.agentStream();
    const code = await new Promise((r) => s.on("close", r));
    assert.equal(t.spawned.length, 0);
    assert.equal(code, 255, "ssh could not connect to make the forward");
    const long = new Recording(machine, { ...ctx, socketDir: join(dir, "x".repeat(120)) });
    long.agentStream();
    assert.equal(long.spawned.length, 1, "a socket path past the kernel's limit falls back to skiff-agent connect");
  });

  it("one forward per ssh destination, in the socket directory", () => {
    const a = forwardPath("/run/user/0/skiff-0", machine);
    assert.equal(a, forwardPath("/run/user/0/skiff-0", { ...machine, name: "other" }));
    assert.notEqual(a, forwardPath("/run/user/0/skiff-0", { ...machine, port: 2222 }));
    assert.notEqual(a, forwardPath("/run/user/0/skiff-0", { ...machine, user: "deploy" }));
    assert.match(a, /^\/run\/user\/0\/skiff-0\/agent-[0-9a-f]{16}$/);
    assert.equal(forwardable(a), true);
    assert.equal(forwardable("/tmp/a:b/agent-x"), false);
  });
});

describe("the local machine as root", { skip: process.getuid?.() !== 0 && "needs root: non-root runs go through sudo" }, () => {
  it("talks to the agent's socket itself: no process started", async () => {
    const path = join(dir, "local.sock");
    const srv = await agent(path);
    const before = process.env.SKIFF_AGENT_SOCKET;
    process.env.SKIFF_AGENT_SOCKET = path;
    try {
      const t = new LocalTransport({ ...machine, local: true } as MachineSpec);
      t.spawn = () => assert.fail("spawned skiff-agent connect for the local machine as root");
      const c = new AgentClient(t);
      assert.equal(await c.call<string>("state"), "state");
      c.close();
    } finally {
      if (before === undefined) delete process.env.SKIFF_AGENT_SOCKET;
      else process.env.SKIFF_AGENT_SOCKET = before;
      srv.close();
    }
  });

  it("a forward the ssh server refuses (the agent answers a check) falls back to skiff-agent connect, resending what went unanswered", async () => {
    const path = join(dir, "refused.sock");
    // sshd with AllowStreamLocalForwarding no: the local end accepts, then closes with nothing said.
    const srv = await agent(path, { hangup: true });
    let spawned = 0;
    // A pretend `skiff-agent connect` that reaches a working agent: answers each request with its method.
    const connectChild = () => {
      spawned++;
      return spawn(process.execPath, ["-e", `process.stdin.on("data", (b) => { for (const l of String(b).split("\\n").filter(Boolean)) { const v = JSON.parse(l); process.stdout.write(JSON.stringify({ id: v.id, result: "via connect " + v.method }) + "\\n"); } }); process.stdin.on("end", () => process.exit(0));`], { stdio: ["pipe", "pipe", "pipe"] });
    };
    const c = new AgentClient(transport(() => socketChannel(() => connectUnix(path), async () => ({ code: 0, stderr: "" }), connectChild)));
    assert.deepEqual(await Promise.all([c.call<string>("ping"), c.call<string>("state")]), ["via connect ping", "via connect state"]);
    assert.equal(await c.call<string>("history"), "via connect history");
    assert.equal(spawned, 1);
    c.close();
    srv.close();
  });

  it("an agent that is down still reads as down: no fallback when the check fails", async () => {
    const path = join(dir, "down.sock");
    const srv = await agent(path, { hangup: true });
    const c = new AgentClient(transport(() => socketChannel(() => connectUnix(path), async () => noAgent, () => assert.fail("fell back although the agent is down"))));
    await assert.rejects(c.call("ping"), /the agent is not running on m1: run `skiff setup m1`|cannot reach the agent/);
    srv.close();
  });
});
