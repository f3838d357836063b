// The runtime setup ships: facts cached by file, payload gzip cached by hash, with real files.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { gunzipSync } from "node:zlib";
import { loadNodeRuntime } from "../../src/api/node-runtime.ts";

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

describe("loadNodeRuntime", () => {
  it("a real binary: its hash, CPU and needs; the gzip unpacks to the very file; both cached", async () => {
    const env = { XDG_CACHE_HOME: mkdtempSync(join(tmpdir(), "skiff-cache-")) };
    const file = "/bin/true"; // small, real ELF; not Node, so its version is not a Node version
    const rt = loadNodeRuntime(file, env.XDG_CACHE_HOME);
    assert.equal(rt.facts.sha256, sha(readFileSync(file)));
    assert.equal(rt.facts.version, "unknown");
    assert.equal(rt.facts.problem, undefined);
    assert.ok(rt.facts.glibc);
    assert.equal(rt.facts.source, `from ${file}`);
    const gz = await rt.payload();
    assert.equal(sha(gunzipSync(gz)), rt.facts.sha256);
    const cached = readdirSync(join(env.XDG_CACHE_HOME, "skiff", "node-runtime")).sort();
    assert.deepEqual(cached.filter((n) => n.endsWith(".gz")), [`${rt.facts.sha256}.gz`]);
    assert.equal(cached.filter((n) => n.endsWith(".json")).length, 1);
    // Second load: facts from the cache, the same payload.
    const again = loadNodeRuntime(file, env.XDG_CACHE_HOME);
    assert.deepEqual(again.facts, rt.facts);
    assert.deepEqual(await again.payload(), gz);
  });

  it("the CLI's own Node reports its version without running it", () => {
    const rt = loadNodeRuntime(undefined, mkdtempSync(join(tmpdir(), "skiff-cache-")));
    assert.equal(rt.facts.version, process.version);
    assert.equal(rt.facts.source, `the CLI's own, ${process.execPath}`);
  });

  it("a file that is no Linux binary gives a problem to show, not a crash; a missing one a UserError", () => {
    const dir = mkdtempSync(join(tmpdir(), "skiff-node-"));
    writeFileSync(join(dir, "node"), "#!/bin/sh\n");
    const rt = loadNodeRuntime(join(dir, "node"), dir);
    assert.equal(rt.facts.problem, `the agent's Node runtime ${join(dir, "node")} cannot run on a Linux machine: not an ELF executable (not built for Linux)`);
    assert.throws(() => loadNodeRuntime(join(dir, "nope"), dir), { name: "UserError", message: /the Node runtime .*nope for the agent does not exist/ });
  });
});
