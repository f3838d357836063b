// The cold start's head start (src/cli/prewarm.ts): which command lines qualify, the forwards record kept under
// the checked-project cache's key, and the handover between a forward started early and the command's own
// openForward, against a real unix socket standing in for a forward's listening end.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
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

const spec = (local: string, base: string[] = ["-o", "ControlPath=/x/%C"]): ForwardSpec => ({ local, remote: "/run/skiff/agent.sock", base, dest: ["--", "root@m1"] });

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
    assert.equal(commandOf(["--json"]), undefined);
    assert.equal(commandOf([]), undefined);
  });
});

describe("prewarm: the forwards record", () => {
  it("is read back under the same key only: another text, environment or build misses; a damaged file is a miss", () => {
    const i = input();
    const f = [spec("/run/user/0/skiff-0/agent-1"), spec("/run/user/0/skiff-0/agent-2")];
    writeCachedForwards(i, f);
    assert.deepEqual(readCachedForwards(i), f);
    assert.equal(readCachedForwards({ ...i, text: "project: shop\n# edited\n" }), undefined);
    assert.equal(readCachedForwards({ ...i, environment: "staging" }), undefined);
    assert.equal(readCachedForwards({ ...i, build: "0.1.0+def" }), undefined);
    const home = process.env.HOME;
    try {
      process.env.HOME = "/home/someone-else";
      assert.equal(readCachedForwards(i), undefined, "another home folder (known_hosts, ~ in identity_file)");
    } finally {
      process.env.HOME = home;
    }
    writeFileSync(cachePath(i, "forwards"), '{"key":"x","forwards":[');
    assert.equal(readCachedForwards(i), undefined);
    writeCachedForwards(i, f);
    const stored = JSON.parse(readFileSync(cachePath(i, "forwards"), "utf8")) as { forwards: unknown[] };
    stored.forwards = [{ ...f[0], base: ["-o", 7] }];
    writeFileSync(cachePath(i, "forwards"), JSON.stringify(stored));
    assert.equal(readCachedForwards(i), undefined, "an argv that is not all strings");
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
    const local = join(dir, "agent-b");
    // `ssh` with an option that makes it fail at once, before any network: what the early start ran is what failed.
    const bad = spec(local, ["-o", "NoSuchOption=1"]);
    startForward(bad);
    await assert.rejects(openForward(bad), (e: unknown) => e instanceof OpenFailed && /NoSuchOption|Bad configuration option/i.test(e.message));
  });
});
