// skiff exec / run / restart, the pure parts: the agent's command line (both
// ways, hostile words byte-exact through the ssh quoting), which instance or
// machine is chosen (and the errors that list the valid ones), what a restart
// renews in which waves, and the exec shell itself run here as root would run
// it on a machine (without the privilege drop): env from descriptor 3, working
// directory, argv.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Writable } from "node:stream";
import { describe, it } from "node:test";
import { chooseInstance, chooseRunMachine } from "../../src/api/reach.ts";
import type { MachineState } from "../../src/api/status.ts";
import { isRunName, parseReachArgs, reachArgv, runName } from "../../src/contracts/reach.ts";
import { UserError } from "../../src/errors.ts";
import { commandLine } from "../../src/lib/quote.ts";
import { clientWaves } from "../../src/exec/rollout.ts";
import { planRestart } from "../../src/plan/restart.ts";
import type { AgentClient } from "../../src/transport/agent-client.ts";
import { execEnvScript, execScript } from "../../src/runtime/process-exec.ts";
import { INJECTION_CASES } from "./injection-cases.ts";
import { deployed, empty, facts, project, release } from "./plan-fixtures.ts";

const p = project();
const HEX = "0123456789ab";

describe("the agent's command line", () => {
  it("carries every hostile word of the command byte-exact through reachArgv, the ssh quoting and sh", () => {
    const command = ["printf", "%s\\0", ...INJECTION_CASES];
    const argv = ["skiff-agent", ...reachArgv("exec", { project: "shop", app: "web", instance: "skiff-shop-web-3-abc123", stdin: false, tty: true, command })];
    // What sshd hands the login shell: one line, quoted at the one quoting place; sh splits it back into argv.
    const line = commandLine(argv);
    const words = spawnSync("/bin/sh", ["-c", `eval "set -- $1"; for a; do printf '%s\\0' "$a"; done`, "sh", line], { encoding: "utf8" }).stdout.split("\0").slice(0, -1);
    assert.equal(words.length, argv.length);
    // The agent reads the same fields out of what arrived.
    assert.deepEqual(parseReachArgs("exec", words.slice(2)), { project: "shop", app: "web", instance: "skiff-shop-web-3-abc123", stdin: false, tty: true, command });
    assert.deepEqual(words, argv);
  });

  it("reads run and run-stop, and refuses what is not theirs", () => {
    const name = runName("shop", "web", HEX);
    assert.ok(isRunName(name, "shop", "web"));
    assert.ok(!isRunName("skiff-shop-web-3-abc123", "shop", "web"), "a serving instance is not a one-off");
    assert.ok(!isRunName(runName("shop", "api", HEX), "shop", "web"));
    const a = parseReachArgs("run", reachArgv("run", { project: "shop", app: "web", name, machine: "m1", stdin: true, tty: false, command: ["rails", "console"] }).slice(1));
    assert.deepEqual(a, { project: "shop", app: "web", name, machine: "m1", stdin: true, tty: false, command: ["rails", "console"] });
    assert.equal(parseReachArgs("run-stop", reachArgv("run-stop", { project: "shop", app: "web", name, stdin: false, tty: false, command: [] }).slice(1)).name, name);
    assert.throws(() => parseReachArgs("run-stop", ["--project", "shop", "--app", "web", "--name", "skiff-shop-web-3-abc123", "--"]), /one-off instance of web/);
    assert.throws(() => parseReachArgs("exec", ["--project", "shop", "--app", "web", "--instance", "../../etc", "--", "ls"]), /is not a name/);
    assert.throws(() => parseReachArgs("exec", ["--project", "shop", "--app", "web", "--", "ls"]), /--instance is needed/);
    assert.throws(() => parseReachArgs("exec", ["--project", "shop", "--app", "web", "--instance", "i", "--"]), /no command after --/);
    assert.throws(() => parseReachArgs("exec", ["--project", "shop", "--app", "web", "--user", "root", "--", "id"]), /unexpected argument "--user"/);
  });
});

const inst = (name: string, o: { healthy?: boolean; running?: boolean; release?: number } = {}) => ({ name, release: o.release ?? 3, hostPort: 20000, running: o.running ?? true, healthy: o.healthy ?? true, health: o.healthy === false ? "503 on /" : "ok", restarts: 0, startedAt: "", slotState: "ready" });
const machine = (m: string, instances: ReturnType<typeof inst>[], active: number | null = 3): MachineState => ({ machine: m, damaged: [], apps: [{ project: "shop", app: "web", active, releases: [3], instances, warm: [], internalUrl: "" }] });

describe("which instance skiff exec enters", () => {
  const states = [machine("m1", [inst("skiff-shop-web-3-aaaaaa", { healthy: false }), inst("skiff-shop-web-3-bbbbbb")]), machine("m2", [inst("skiff-shop-web-3-cccccc")])];

  it("the first healthy one, in skiff.yml's machine order; on a machine, that machine's", () => {
    assert.deepEqual(chooseInstance(p, states, "web"), { machine: "m1", instance: "skiff-shop-web-3-bbbbbb" });
    assert.deepEqual(chooseInstance(p, states, "web", { machine: "m2" }), { machine: "m2", instance: "skiff-shop-web-3-cccccc" });
  });

  it("one named by its full name or a unique end, healthy or not (debugging a sick one is the point)", () => {
    assert.deepEqual(chooseInstance(p, states, "web", { instance: "aaaaaa" }), { machine: "m1", instance: "skiff-shop-web-3-aaaaaa" });
    assert.deepEqual(chooseInstance(p, states, "web", { instance: "skiff-shop-web-3-cccccc" }), { machine: "m2", instance: "skiff-shop-web-3-cccccc" });
  });

  it("errors that name the valid choices", () => {
    const err = (f: () => unknown, message: RegExp, hint: RegExp) =>
      assert.throws(f, (e: unknown) => e instanceof UserError && message.test(e.message) && hint.test(e.hint ?? "") ? true : assert.fail(`${(e as Error).message} / ${(e as UserError).hint}`));
    err(() => chooseInstance(p, states, "web", { instance: "zzz" }), /web has no instance "zzz"/, /skiff-shop-web-3-aaaaaa \(m1\), skiff-shop-web-3-bbbbbb \(m1\), skiff-shop-web-3-cccccc \(m2\)/);
    const twins = [machine("m1", [inst("skiff-shop-web-3-aa1f00")]), machine("m2", [inst("skiff-shop-web-3-bb1f00")])];
    err(() => chooseInstance(p, twins, "web", { instance: "1f00" }), /"1f00" names 2 instances of web/, /name one: skiff-shop-web-3-aa1f00, skiff-shop-web-3-bb1f00/);
    err(() => chooseInstance(p, states, "web", { machine: "m9" }), /no machine named "m9"/, /machines: m1, m2/);
    err(() => chooseInstance(p, [states[0]!, machine("m2", [])], "web", { machine: "m2" }), /web runs no instances on m2/, /it runs on: m1/);
    err(() => chooseInstance(p, [machine("m1", [inst("skiff-shop-web-3-aaaaaa", { healthy: false })]), machine("m2", [], null)], "web"), /no healthy instance/, /--instance: skiff-shop-web-3-aaaaaa \(m1, 503 on \/\)/);
    err(() => chooseInstance(p, [machine("m1", [], null), { machine: "m2", problem: "unreachable", error: "ssh: timed out" }], "web"), /web runs no instances \(not answering: m2\)/, /skiff status/);
    err(() => chooseRunMachine(p, [states[0]!, { machine: "m2", problem: "unreachable", error: "ssh: timed out" }], "web", "m2"), /m2: unreachable/, /timed out/);
  });

  it("skiff run goes where the app runs (that machine holds its secrets)", () => {
    assert.equal(chooseRunMachine(p, [machine("m1", [], null), states[1]!], "web"), "m2");
    assert.equal(chooseRunMachine(p, states, "web", "m2"), "m2");
  });
});

describe("what skiff restart renews", () => {
  const f = facts();
  it("every machine that runs the app, in the app's waves (canary first); one machine when asked", () => {
    const o = deployed(empty(), release(p, f, 4, { m1: 1, m2: 1 }));
    const plan = planRestart(p, o, { apps: [] });
    assert.deepEqual(plan.apps, [{ app: "web", release: 4, machines: [{ machine: "m1", instances: 1 }, { machine: "m2", instances: 1 }], batches: [["m1"], ["m2"]] }]);
    assert.deepEqual(planRestart(p, o, { apps: ["web"], machine: "m2" }).apps[0]!.batches, [["m2"]]);
  });

  it("its rollout activates only the machines of its waves (the others only hear of the new peers)", () => {
    const clients = ["m1", "m2", "m3"].map((machine) => ({ machine }) as AgentClient);
    const names = (w: AgentClient[][]) => w.map((b) => b.map((c) => c.machine));
    assert.deepEqual(names(clientWaves({ clients, waves: [["m2"]], onlyWaves: true })), [["m2"]]);
    assert.deepEqual(names(clientWaves({ clients, waves: [["m2"]] })), [["m2"], ["m1", "m3"]], "a deploy's rollout still ends with the rest");
  });

  it("leaves out machines placed to run none of it, and says why it cannot restart", () => {
    const o = deployed(empty(), release(p, f, 4, { m1: 2, m2: 0 }));
    assert.deepEqual(planRestart(p, o, { apps: [] }).apps[0]!.machines, [{ machine: "m1", instances: 2 }]);
    assert.throws(() => planRestart(p, o, { apps: [], machine: "m2" }), /web runs no instances on m2/);
    assert.throws(() => planRestart(p, o, { apps: [], machine: "m7" }), /no machine named "m7"/);
    assert.throws(() => planRestart(p, empty(), { apps: [] }), /web runs no instances: nothing to restart/);
    assert.throws(() => planRestart(p, o, { apps: ["api"] }), /no app named "api"/);
    const mixed = deployed(empty(), release(p, f, 4));
    mixed.machines[1]!.apps.web!.active = 5;
    mixed.machines[1]!.specs.web![5] = { ...mixed.machines[1]!.specs.web![4]!, release: 5 };
    assert.throws(() => planRestart(p, mixed, { apps: [] }), /different releases \(m1: 4, m2: 5\)/);
  });
});

describe("the exec shell (process instances)", () => {
  it("runs the argv in the working directory with the instance's env, read from descriptor 3, not from argv", async () => {
    const workdir = mkdtempSync(join(tmpdir(), "skiff-exec-"));
    const secret = `s3cr3t 'quoted' $(touch /tmp/skiff-pwned)\nline2`;
    const target = { workdir, env: { DB_PASSWORD: secret, PATH: "/usr/bin:/bin" }, cgroup: { dirs: [] } };
    const script = execScript(target, []);
    assert.ok(!script.includes("s3cr3t"), "the env is not in the command line");
    const child = spawn("/bin/sh", ["-c", script, "sh", "sh", "-c", 'printf "%s|%s|%s" "$(pwd)" "$DB_PASSWORD" "$1"', "x", "arg one"], { stdio: ["ignore", "pipe", "pipe", "pipe"] });
    (child.stdio[3] as Writable).end(execEnvScript(target.env));
    let out = "";
    child.stdout!.on("data", (b) => (out += b));
    const code = await new Promise((r) => child.on("close", r));
    assert.equal(code, 0);
    assert.equal(out, `${workdir}|${secret}|arg one`);
  });

  it("refuses an env name that is not one", () => {
    assert.throws(() => execEnvScript({ "A;B": "x" }), /not a valid environment variable name/);
  });
});
