// The init script's shell supervisor, run for real with sh in a temporary
// root: a stand-in agent (a shell script that serves until TERM) takes the
// place of Node, so what is tested is the loop: restart with backoff, one loop
// and one agent at most, and stop that never leaves an agent behind.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { AGENT_BIN, INIT_SCRIPT, LOG_DIR, RUN_DIR } from "../../src/contracts/paths.ts";
import { initScript } from "../../src/plan/agent-files.ts";

const root = mkdtempSync(join(tmpdir(), "skiff-init-"));
const run = join(root, "run");
const script = join(root, "init.d", "skiff-agent");
const agentBin = join(root, "bin", "skiff-agent");
const log = join(root, "log", "agent.log");

// `serve` records its pid like the real agent (agent.pid) and stays until TERM, or ignores TERM when `stubborn` exists.
const FAKE_AGENT = `#!/bin/sh
case "$1" in
  serve)
    echo $$ >${run}/agent.pid
    if [ -f ${root}/stubborn ]; then trap '' TERM; else trap 'exit 0' TERM; fi
    while :; do sleep 0.2 & wait $!; done ;;
  call) pid=$(cat ${run}/agent.pid 2>/dev/null) && kill -0 "$pid" 2>/dev/null ;;
esac
`;

const sh = (...args: string[]) => spawnSync("sh", [script, ...args], { encoding: "utf8", timeout: 20_000 });
function alive(pid: number): boolean {
  try {
    return process.kill(pid, 0);
  } catch {
    return false;
  }
}
const pidIn = (file: string) => (existsSync(file) ? Number(readFileSync(file, "utf8").trim()) : 0);
const loopPid = () => pidIn(join(run, "agent-supervisor.pid"));
const agentPid = () => pidIn(join(run, "agent.pid"));
/** Processes whose command line names this test's agent or script (the stand-in's `sleep`s aside). */
function ours(): string[] {
  const lines = readdirSync("/proc")
    .filter((p) => /^\d+$/.test(p))
    .map((pid) => {
      try {
        return `${pid} ${readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ")}`;
      } catch {
        return ""; // gone meanwhile
      }
    });
  return lines.filter((l) => l.includes(root));
}

async function until(what: string, ok: () => boolean, ms = 8000): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end; ) {
    if (ok()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`${what} within ${ms} ms; processes:\n${ours().join("\n")}\nlog:\n${existsSync(log) ? readFileSync(log, "utf8") : ""}`);
}

before(() => {
  for (const d of ["run", "init.d", "bin", "log"]) mkdirSync(join(root, d));
  const text = initScript()
    .content.toString()
    .replaceAll(INIT_SCRIPT, script)
    .replaceAll(AGENT_BIN, agentBin)
    .replaceAll(RUN_DIR, run)
    .replaceAll(LOG_DIR, join(root, "log"));
  writeFileSync(script, text);
  writeFileSync(agentBin, FAKE_AGENT);
  chmodSync(script, 0o755);
  chmodSync(agentBin, 0o755);
});

after(() => {
  for (const l of ours()) process.kill(Number(l.split(" ")[0]), "SIGKILL");
  rmSync(root, { recursive: true, force: true });
});

describe("the init script's supervisor loop", () => {
  it("start runs one loop and one agent; a second start changes nothing; status says so", () => {
    assert.equal(sh("start").status, 0);
    const loop = loopPid();
    const agent = agentPid();
    assert.ok(alive(loop) && alive(agent));
    assert.equal(sh("start").status, 0);
    assert.equal(loopPid(), loop);
    assert.equal(agentPid(), agent);
    assert.equal(ours().filter((l) => l.includes(" serve")).length, 1);
    assert.equal(ours().filter((l) => l.includes(" supervise")).length, 1);
    assert.deepEqual([sh("status").status, sh("status").stdout], [0, "skiff-agent is running\n"]);
  });

  it("a killed agent is started again, after 1 s, then 2 s when it dies again soon", async () => {
    const first = agentPid();
    process.kill(first, "SIGKILL");
    await until("a new agent", () => agentPid() !== first && alive(agentPid()));
    const second = agentPid();
    process.kill(second, "SIGKILL");
    await until("a third agent", () => agentPid() !== second && alive(agentPid()));
    const lines = readFileSync(log, "utf8").match(/agent exited \(\d+\); restarting in \d+ s/g);
    assert.deepEqual(lines, ["agent exited (137); restarting in 1 s", "agent exited (137); restarting in 2 s"]);
  });

  it("stop ends the loop and the agent, and removes the pid file", async () => {
    const [loop, agent] = [loopPid(), agentPid()];
    assert.equal(sh("stop").status, 0);
    assert.ok(!alive(loop), "the loop is gone");
    assert.ok(!alive(agent), "the agent is gone");
    assert.equal(existsSync(join(run, "agent-supervisor.pid")), false);
    assert.deepEqual([sh("status").status, sh("status").stdout], [3, "skiff-agent is not running\n"]);
    assert.deepEqual(ours(), []);
  });

  it("TERM to the loop (as a test or an operator sends it) stops the agent too; nothing restarts it", async () => {
    assert.equal(sh("start").status, 0);
    const [loop, agent] = [loopPid(), agentPid()];
    process.kill(loop, "SIGTERM");
    await until("loop and agent gone", () => !alive(loop) && !alive(agent));
    await new Promise((r) => setTimeout(r, 1500));
    assert.deepEqual(ours(), []);
  });

  it("an agent that ignores TERM is killed after 5 s: stop never leaves one behind", async () => {
    writeFileSync(join(root, "stubborn"), "");
    try {
      assert.equal(sh("start").status, 0);
      const agent = agentPid();
      const began = Date.now();
      assert.equal(sh("stop").status, 0);
      assert.ok(!alive(agent), "the agent is gone");
      assert.ok(Date.now() - began >= 4500, "it had its 5 s to stop");
    } finally {
      rmSync(join(root, "stubborn"));
    }
  });

  it("an agent whose loop was killed outright is stopped by stop", async () => {
    assert.equal(sh("start").status, 0);
    const [loop, agent] = [loopPid(), agentPid()];
    process.kill(loop, "SIGKILL");
    await until("the loop gone", () => !alive(loop));
    assert.ok(alive(agent), "the agent outlives its loop");
    assert.equal(sh("status").status, 3);
    assert.equal(sh("stop").status, 0);
    assert.ok(!alive(agent), "stop ended the orphan");
    assert.deepEqual(ours(), []);
  });
});
