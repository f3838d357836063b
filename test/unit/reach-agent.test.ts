// `skiff-agent exec | run | run-stop` on this computer, on a real process
// instance in a temporary state directory (no cgroups: those and the app's own
// user are checked on the bed, test/e2e/reach.test.ts): the command sees the
// instance's env (a secret included), working directory and files and exits
// with its code; it ends when the CLI's stdin ends; a one-off run leaves
// nothing behind, whether it ends, its CLI goes, or run-stop removes it.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { baseStart } from "../../src/agent/instances.ts";
import { Store } from "../../src/agent/store.ts";
import type { ReleaseSpec } from "../../src/contracts/model.ts";
import { runName } from "../../src/contracts/reach.ts";
import { ProcessRuntime } from "../../src/runtime/process.ts";

const MAIN = new URL("../../src/agent/main.ts", import.meta.url).pathname;
const base = mkdtempSync(join(tmpdir(), "skiff-reach-"));
const env = { ...process.env, SKIFF_STATE_DIR: base, SKIFF_CGROUP_ROOT: join(base, "no-cgroups") };
const SECRET = "s3cr3t 'q' $(not run)";
const NAME = "skiff-shop-web-1-abc123";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The agent command; its stdin stays open (as the CLI holds it) until `closeStdin`. */
function agent(args: string[]) {
  const c = spawn(process.execPath, ["--import", "tsx", MAIN, ...args], { env, stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  c.stdout.on("data", (b) => (stdout += b));
  c.stderr.on("data", (b) => (stderr += b));
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => c.on("close", (code) => resolve({ code, stdout, stderr })));
  return { done, closeStdin: () => c.stdin.end() };
}
const oneOffs = () => readdirSync(join(base, "instances")).filter((n) => n.includes("-run-"));

describe("skiff-agent exec, run and run-stop on a process instance", { timeout: 120_000 }, () => {
  const rt = new ProcessRuntime(base);
  before(async () => {
    process.env.SKIFF_CGROUP_ROOT = env.SKIFF_CGROUP_ROOT;
    const store = new Store(base);
    const spec: ReleaseSpec = {
      project: "shop", app: "web", release: 1, runtime: "process", image: "none", imageId: "none", command: "sleep 300", user: "root", port: 3000, instances: 1,
      env: { LEVEL: "debug" }, secrets: { DB_PASSWORD: SECRET }, files: [{ path: "conf/app.txt", mode: 0o644, content: Buffer.from("file content\n").toString("base64") }],
      health: { intervalMs: 1000, timeoutMs: 1000, healthyThreshold: 1, deadlineMs: 10_000 }, routes: [], drainMs: 0, stopTimeoutS: 1, keepReleases: 5, probationMs: 0,
      createdBy: "test", createdAt: new Date().toISOString(),
    };
    store.putRelease(spec);
    await rt.start({ name: NAME, hostPort: 20999, bindAddress: "127.0.0.1", ...baseStart({ store }, spec, { SKIFF_MACHINE: "m1", SKIFF_INSTANCE: NAME }, {}) });
    const st = store.state("shop", "web");
    Object.assign(st, { active: 1, instances: [{ name: NAME, release: 1, runtime: "process", hostPort: 20999, startedAt: new Date().toISOString(), restarts: 0 }] });
    store.saveState(st);
  });
  after(async () => {
    await rt.remove(NAME);
    delete process.env.SKIFF_CGROUP_ROOT;
  });

  it("exec: the instance's env and secret, working directory and files; the command's exit code", async () => {
    const r = agent(["exec", "--project", "shop", "--app", "web", "--instance", NAME, "--", "sh", "-c", 'printf "%s|%s|%s|%s\\n" "$DB_PASSWORD" "$LEVEL" "$PORT" "$(pwd)"; cat conf/app.txt; exit 4']);
    const out = await r.done;
    assert.equal(out.code, 4, out.stderr);
    assert.equal(out.stdout, `${SECRET}|debug|20999|${join(base, "work", "shop", "web", "1")}\nfile content\n`);
  });

  it("exec: an unknown instance is refused with the running ones named", async () => {
    const out = await agent(["exec", "--project", "shop", "--app", "web", "--instance", "skiff-shop-web-1-ffffff", "--", "true"]).done;
    assert.equal(out.code, 125);
    assert.match(out.stderr, new RegExp(`web has no instance skiff-shop-web-1-ffffff here \\(running: ${NAME}\\)`));
  });

  it("exec: the command ends when the CLI's stdin ends (the CLI is gone)", async () => {
    // A child of the command too: the whole session goes.
    const r = agent(["exec", "--project", "shop", "--app", "web", "--instance", NAME, "--", "sh", "-c", "sleep 60; echo not-ended"]);
    await sleep(1500);
    r.closeStdin();
    const out = await r.done;
    assert.equal(out.code, 129, `ended by SIGHUP, not by running out: ${out.stderr}`);
    assert.equal(out.stdout, "");
  });

  it("run: a one-off with the release's env, secret and files, its exit code, and nothing left", async () => {
    const name = runName("shop", "web", "0123456789ab");
    const out = await agent(["run", "--project", "shop", "--app", "web", "--name", name, "--machine", "m1", "--", "sh", "-c", 'printf "%s|%s|%s\\n" "$DB_PASSWORD" "$SKIFF_MACHINE" "$SKIFF_INSTANCE"; cat conf/app.txt; exit 3']).done;
    assert.equal(out.code, 3, out.stderr);
    assert.equal(out.stdout, `${SECRET}|m1|${name}\nfile content\n`);
    assert.deepEqual(oneOffs(), []);
  });

  it("run: removed when the CLI goes, and by run-stop", async () => {
    const gone = agent(["run", "--project", "shop", "--app", "web", "--name", runName("shop", "web", "aaaaaaaaaaaa"), "--", "sleep", "60"]);
    for (let i = 0; i < 100 && !oneOffs().length; i++) await sleep(50);
    assert.equal(oneOffs().length, 1, "the one-off started");
    gone.closeStdin();
    assert.notEqual((await gone.done).code, 0);
    assert.deepEqual(oneOffs(), []);

    const name = runName("shop", "web", "bbbbbbbbbbbb");
    const stopped = agent(["run", "--project", "shop", "--app", "web", "--name", name, "--", "sleep", "60"]);
    for (let i = 0; i < 100 && !oneOffs().length; i++) await sleep(50);
    const stop = await agent(["run-stop", "--project", "shop", "--app", "web", "--name", name, "--"]).done;
    assert.equal(stop.code, 0, stop.stderr);
    assert.notEqual((await stopped.done).code, 0);
    assert.deepEqual(oneOffs(), []);
    assert.ok(existsSync(join(base, "instances", NAME)), "the serving instance is untouched");
  });
});
