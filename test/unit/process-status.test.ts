// A process instance's status as the supervisor asks for it every interval:
// the runtime that started it sees it running without reading a file, and sees
// an exit (even a kill from outside) as soon as the wrapper is gone; a runtime
// of a later agent (a new object on the same state directory) finds the same
// instance from its files, running and then stopped.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { ProcessRuntime } from "../../src/runtime/process.ts";

const base = mkdtempSync(join(tmpdir(), "skiff-process-status-"));
process.env.SKIFF_CGROUP_ROOT = join(base, "no-cgroups");
after(() => {
  delete process.env.SKIFF_CGROUP_ROOT;
  rmSync(base, { recursive: true, force: true });
});

const labels = { "skiff.managed": "1", "skiff.project": "p", "skiff.app": "a", "skiff.release": "1" };
const spec = (name: string, hostPort: number) => ({ name, image: "none", command: "while :; do sleep 0.05; done", user: "root", containerPort: 3000, hostPort, bindAddress: "127.0.0.1", env: {}, labels });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(rt: ProcessRuntime, name: string, running: boolean): Promise<number> {
  const t0 = Date.now();
  while ((await rt.status(name)).running !== running) {
    if (Date.now() - t0 > 5000) throw new Error(`${name} still ${running ? "not running" : "running"} after 5 s`);
    await sleep(10);
  }
  return Date.now() - t0;
}

describe("process instance status", () => {
  it("a wrapper killed from outside is seen as exited at once by the runtime that started it", async () => {
    const rt = new ProcessRuntime(base);
    await rt.start(spec("one", 24001));
    assert.equal((await rt.status("one")).running, true);
    const pid = Number(readFileSync(join(base, "instances", "one", "pid"), "utf8").split(" ")[0]);
    process.kill(-pid, "SIGKILL");
    const ms = await until(rt, "one", false);
    assert.ok(ms < 1000, `seen after ${ms} ms`);
    const s = await rt.status("one");
    assert.deepEqual([s.exists, s.running, s.exitCode, s.oomKilled], [true, false, 137, false], "killed with the wrapper: no exit file, 137");
    await rt.remove("one");
    assert.equal((await rt.status("one")).exists, false);
  });

  it("a later agent's runtime finds a running instance from its pid file, stops it, and both see it stopped", async () => {
    const first = new ProcessRuntime(base);
    await first.start(spec("two", 24002));
    const later = new ProcessRuntime(base);
    assert.equal((await later.status("two")).running, true);
    await later.stop("two", 5);
    assert.equal((await later.status("two")).running, false);
    await until(first, "two", false);
    await later.restart("two");
    assert.equal((await later.status("two")).running, true);
    await first.remove("two");
    assert.equal((await later.status("two")).running, false, "stopped by the other runtime: seen from /proc");
  });
});
