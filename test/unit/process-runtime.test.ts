// The process runtime's pure parts, and the runtime itself on real processes in a
// temporary state directory (cgroups pointed at a temporary tree: limits are
// checked end to end in test/e2e/process.test.ts).
import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { hashTree } from "../../src/build/artifact.ts";
import { parseMemory } from "../../src/config/duration.ts";
import { renderConfig } from "../../src/proxy/config.ts";
import { routeConflicts } from "../../src/proxy/model.ts";
import { createCgroup } from "../../src/runtime/cgroup.ts";
import { execPrefix, ProcessRuntime } from "../../src/runtime/process.ts";

const tmp = () => mkdtempSync(join(tmpdir(), "skiff-unit-"));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("process runtime", () => {
  it("memory sizes are binary, as Docker's", () => {
    assert.equal(parseMemory("256M"), 256 * 1024 ** 2);
    assert.equal(parseMemory("1.5G"), 1.5 * 1024 ** 3);
    assert.equal(parseMemory("512Mi"), 512 * 1024 ** 2);
    assert.equal(parseMemory("64k"), 64 * 1024);
    assert.equal(parseMemory(1000), 1000);
    assert.throws(() => parseMemory("lots"), /not a size/);
  });

  it("plain commands run with exec; shell constructs run as written", () => {
    assert.equal(execPrefix("node server.js"), "exec node server.js");
    assert.equal(execPrefix("python3 -m http.server $PORT"), "exec python3 -m http.server $PORT");
    for (const c of ["cd app && node x.js", "a; b", "a | b", "FOO=1 node x", "export A=1", "x > log"]) assert.equal(execPrefix(c), c);
  });

  it("an artifact's hash covers content and the executable bit, and skips .git", () => {
    const a = tmp();
    writeFileSync(join(a, "server.js"), "x");
    mkdirSync(join(a, "lib"));
    writeFileSync(join(a, "lib", "y.js"), "y");
    const h1 = hashTree(a);
    mkdirSync(join(a, ".git"));
    writeFileSync(join(a, ".git", "HEAD"), "ref");
    assert.equal(hashTree(a), h1);
    chmodSync(join(a, "server.js"), 0o755);
    const h2 = hashTree(a);
    assert.notEqual(h2, h1);
    writeFileSync(join(a, "lib", "y.js"), "z");
    assert.notEqual(hashTree(a), h2);
  });

  it("cgroup v1 and v2 limits are written; without cgroups the instance says limits are not enforced", () => {
    const v1 = tmp();
    mkdirSync(join(v1, "memory"));
    writeFileSync(join(v1, "memory", "cgroup.procs"), "");
    mkdirSync(join(v1, "cpu"));
    writeFileSync(join(v1, "cpu", "cgroup.procs"), "");
    writeFileSync(join(v1, "cpu", "cpu.cfs_quota_us"), "-1");
    const g1 = createCgroup("i1", { memoryBytes: 64 * 1024 ** 2, cpus: 0.5 }, v1);
    assert.equal(readFileSync(join(v1, "memory", "skiff", "i1", "memory.limit_in_bytes"), "utf8"), String(64 * 1024 ** 2));
    assert.equal(readFileSync(join(v1, "cpu", "skiff", "i1", "cpu.cfs_quota_us"), "utf8"), "50000");
    assert.deepEqual([g1.memory, g1.cpu, g1.note], [true, true, undefined]);

    const v2 = tmp();
    writeFileSync(join(v2, "cgroup.controllers"), "cpu memory pids");
    writeFileSync(join(v2, "cgroup.subtree_control"), "");
    mkdirSync(join(v2, "skiff"));
    writeFileSync(join(v2, "skiff", "cgroup.controllers"), "cpu memory");
    writeFileSync(join(v2, "skiff", "cgroup.subtree_control"), "");
    const g2 = createCgroup("i2", { memoryBytes: 1024 ** 3 }, v2);
    assert.equal(readFileSync(join(v2, "skiff", "i2", "memory.max"), "utf8"), String(1024 ** 3));
    assert.deepEqual(g2.procs, [join(v2, "skiff", "i2", "cgroup.procs")]);

    const none = createCgroup("i3", { memoryBytes: 1 }, join(tmp(), "nothing"));
    assert.equal(none.memory, false);
    assert.match(none.note!, /limits not enforced/);
    assert.equal(createCgroup("i4", {}, join(tmp(), "nothing")).note, undefined, "no limits asked, nothing to say");
  });

  it("runs a command with PORT and HOST, keeps its output, records its exit code, and stops it with SIGTERM", async () => {
    const base = tmp();
    const rt = new ProcessRuntime(base);
    const labels = { "skiff.managed": "1", "skiff.project": "p", "skiff.app": "a", "skiff.release": "1" };
    process.env.SKIFF_CGROUP_ROOT = join(base, "no-cgroups");
    try {
      await rt.start({ name: "one", image: "none", command: 'echo "port=$PORT host=$HOST"; exit 4', containerPort: 3000, hostPort: 23456, bindAddress: "127.0.0.1", env: { A: "1" }, labels });
      for (let i = 0; i < 50 && (await rt.status("one")).running; i++) await sleep(20);
      const s = await rt.status("one");
      assert.deepEqual([s.exists, s.running, s.exitCode, s.oomKilled], [true, false, 4, false]);
      assert.equal(await rt.logs("one", 10), "port=23456 host=127.0.0.1");
      assert.deepEqual(await rt.list({ "skiff.app": "a" }), ["one"]);
      assert.ok(existsSync(join(base, "work", "p", "a", "1")), "a working directory per release");

      await rt.start({ name: "two", image: "none", command: "trap 'echo bye; exit 0' TERM; while :; do sleep 0.05; done", containerPort: 3000, hostPort: 23457, bindAddress: "127.0.0.1", env: {}, labels });
      await sleep(200);
      assert.equal((await rt.status("two")).running, true);
      await rt.stop("two", 5);
      const t = await rt.status("two");
      assert.deepEqual([t.running, t.exitCode], [false, 0]);
      assert.match(await rt.logs("two", 5), /bye/);

      await rt.remove("one");
      assert.deepEqual(await rt.list({ "skiff.app": "a" }), ["two"]);
    } finally {
      delete process.env.SKIFF_CGROUP_ROOT;
    }
  });
});

describe("routes on one machine", () => {
  it("two apps cannot serve the same host and path on the same port", () => {
    const state = { httpPort: 80, backends: [{ name: "skiff_a_web", routes: [{ path: "/" }, { host: "api.example.com", path: "/v1" }], healthPath: "/healthz", intervalMs: 1000, slots: [] }] };
    assert.deepEqual(routeConflicts(state, "skiff_b_web", [{ path: "/" }], undefined), [{ route: { path: "/" }, owner: "skiff_a_web" }]);
    assert.deepEqual(routeConflicts(state, "skiff_b_web", [{ host: "API.example.com", path: "/v1/" }], 80).length, 1);
    assert.deepEqual(routeConflicts(state, "skiff_b_web", [{ path: "/" }], 8080), [], "another port is another frontend");
    assert.deepEqual(routeConflicts(state, "skiff_b_web", [{ host: "b.example.com", path: "/" }], 80), [], "a host makes it distinct");
    assert.deepEqual(routeConflicts(state, "skiff_a_web", [{ path: "/" }], 80), [], "an app does not clash with itself");
  });
});

describe("HAProxy config with several http ports", () => {
  it("one frontend per port, each with only its apps' routes", () => {
    const slot = { name: "s1", addr: "127.0.0.1", port: 1, state: "maint" as const };
    const cfg = renderConfig(
      {
        httpPort: 80,
        backends: [
          { name: "skiff_a_web", routes: [{ path: "/" }], healthPath: "/healthz", intervalMs: 1000, slots: [slot] },
          { name: "skiff_b_web", routes: [{ path: "/" }], healthPath: "/healthz", intervalMs: 1000, httpPort: 8080, slots: [slot] },
        ],
      },
      { statsSocket: "/run/s.sock", pidFile: "/run/h.pid" },
    );
    const frontends = cfg.split("\n\n").filter((b) => b.startsWith("frontend"));
    assert.equal(frontends.length, 2);
    assert.match(frontends[0]!, /^frontend public\n  bind :80\n  use_backend skiff_a_web\n/);
    assert.match(frontends[1]!, /^frontend public_8080\n  bind :8080\n  use_backend skiff_b_web\n/);
    assert.match(renderConfig({ httpPort: 80, backends: [] }, { statsSocket: "/s", pidFile: "/p" }), /frontend public\n  bind :80\n  default_backend skiff_no_route/);
  });
});
