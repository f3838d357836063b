// The cold start's head start (src/cli/prewarm.ts): which command lines qualify, the forwards record kept under
// the checked-project cache's key, and the handover between a forward started early and the command's own
// openForward, against a real unix socket standing in for a forward's listening end.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { commandOf } from "../../src/cli/prewarm.ts";
import { cachePath, readCachedForwards, writeCachedForwards, type CacheInput } from "../../src/config/project-cache.ts";
import { openForward, startForward, type ForwardSpec } from "../../src/transport/agent-forward.ts";
import { OpenFailed } from "../../src/transport/agent-socket.ts";

const tmp = () => mkdtempSync(join(tmpdir(), "skiff-prewarm-"));

function input(over: Partial<CacheInput> = {}): CacheInput {
  const dir = join(tmp(), "projects");
  return { text: "project: shop\n", file: "/src/shop/skiff.yml", environment: undefined, build: "0.1.0+abc", dir, ...over };
}

const spec = (local: string, base: string[] = ["-o", "ControlPath=/x/%C"]): ForwardSpec => ({ machine: "m1", local, remote: "/run/skiff/agent.sock", base, dest: ["--", "root@m1"] });

/** A listening unix socket that counts its connections and answers each with "hi". */
async function listening(path: string): Promise<{ server: Server; accepted: () => number }> {
  let n = 0;
  const server = createServer((c: Socket) => {
    n++;
    c.end("hi");
  });
  await new Promise<void>((r) => server.listen(path, r));
  return { server, accepted: () => n };
}

const read = (s: Socket) => new Promise<string>((r) => {
  let got = "";
  s.on("data", (b) => (got += b));
  s.on("end", () => r(got));
});

describe("prewarm: the command line", () => {
  it("finds the command after the global options, and gives up on anything it does not know", () => {
    assert.deepEqual(commandOf(["status"]), { command: "status", config: undefined, env: undefined });
    assert.deepEqual(commandOf(["-e", "staging", "--json", "history", "web"]), { command: "history", config: undefined, env: "staging" });
    assert.deepEqual(commandOf(["--config=/a/skiff.yml", "--env=prod", "logs"]), { command: "logs", config: "/a/skiff.yml", env: "prod" });
    assert.deepEqual(commandOf(["-c", "x.yml", "deploy"]), { command: "deploy", config: "x.yml", env: undefined });
    assert.equal(commandOf(["--verbose", "status"]), undefined, "an option it does not know: no guess");
    // commander takes the global options after the command too: the project or environment may be chosen there.
    assert.equal(commandOf(["deploy", "-e", "staging"]), undefined);
    assert.equal(commandOf(["status", "--env=staging"]), undefined);
    assert.equal(commandOf(["status", "-estaging"]), undefined);
    assert.equal(commandOf(["status", "-c", "other/skiff.yml"]), undefined);
    assert.equal(commandOf(["status", "--help"]), undefined, "help talks to no machine");
    assert.deepEqual(commandOf(["logs", "web", "--since", "1h"]), { command: "logs", config: undefined, env: undefined });
    assert.equal(commandOf(["--json"]), undefined);
    assert.equal(commandOf([]), undefined);
  });
});

describe("prewarm: the forwards record", () => {
  it("holds machine names only, read back under the same key: another text, environment or build misses; a damaged file is a miss", () => {
    const i = input();
    writeCachedForwards(i, ["m1", "m2"]);
    assert.deepEqual(readCachedForwards(i), ["m1", "m2"]);
    assert.equal(readCachedForwards({ ...i, text: "project: shop\n# edited\n" }), undefined);
    assert.equal(readCachedForwards({ ...i, environment: "staging" }), undefined);
    assert.equal(readCachedForwards({ ...i, build: "0.1.0+def" }), undefined);
    writeFileSync(cachePath(i, "forwards"), '{"key":"x","machines":[');
    assert.equal(readCachedForwards(i), undefined);
    writeCachedForwards(i, ["m1"]);
    const stored = JSON.parse(readFileSync(cachePath(i, "forwards"), "utf8")) as { machines: unknown[] };
    stored.machines = [["-oProxyCommand=evil"]];
    writeFileSync(cachePath(i, "forwards"), JSON.stringify(stored));
    assert.equal(readCachedForwards(i), undefined, "anything but names");
  });
});

describe("prewarm: a forward started early", () => {
  it("one already listening: connected once, and the command's openForward takes that connection", async () => {
    const local = join(tmp(), "agent-a");
    const { server, accepted } = await listening(local);
    try {
      startForward(spec(local));
      const sock = await openForward(spec(local));
      assert.equal(await read(sock), "hi");
      assert.equal(accepted(), 1, "the early connection was the command's: no second one");
      const again = await openForward(spec(local));
      assert.equal(await read(again), "hi", "a later channel connects as usual");
    } finally {
      server.close();
    }
  });

  it("one not there: the early start makes it (its ssh), and a failure is the command's error, not a second try", async () => {
    const dir = tmp();
    mkdirSync(join(dir, "sockets")); // holds no master socket: the early start makes the forward with one ssh
    const local = join(dir, "sockets", "agent-b");
    // An `ssh` on PATH that counts its runs and fails as ssh does when it cannot connect.
    const bin = join(dir, "bin");
    mkdirSync(bin);
    writeFileSync(join(bin, "ssh"), `#!/bin/sh\necho run >> ${join(dir, "runs")}\necho "ssh: connect to host m1 port 22: Connection refused" >&2\nexit 255\n`, { mode: 0o755 });
    const path = process.env.PATH;
    process.env.PATH = `${bin}:${path}`;
    try {
      startForward(spec(local));
      await assert.rejects(openForward(spec(local)), (e: unknown) => e instanceof OpenFailed && /Connection refused/.test(e.message));
      assert.equal(readFileSync(join(dir, "runs"), "utf8"), "run\n", "one ssh: the early one, whose failure the command reports");
    } finally {
      process.env.PATH = path;
    }
  });
});
