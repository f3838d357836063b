// Reach in, on 3 bed machines: `skiff exec` into a container and into a
// process instance sees the app's env (a secret included), its files, its user,
// working directory and cgroup, and exits with the command's code; `skiff run`
// runs a one-off of the current release and leaves nothing behind (no
// container, process, cgroup or directory), also after Ctrl-C; `skiff restart`
// under load fails no request and shows in history. Two projects on their own
// public ports: containers (8108, project reachc) and processes (8109, reachp).
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { startLoad } from "../../src/load/load.ts";
import { faults, up, type Bed } from "../../testbed/bed.ts";
import { makeProject, type Project, type Run } from "./helpers.ts";

const HELLO = new URL("../../examples/hello", import.meta.url).pathname;
const HELLO_NODE = new URL("../../examples/hello-node", import.meta.url).pathname;
const BIN = new URL("../../bin/skiff.js", import.meta.url).pathname;
const SECRET = `reach-${Math.random().toString(36).slice(2)} 'quoted' $(not run)`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let bed: Bed;
let keyFile: string;
let recipient: string;

interface Side {
  p: Project;
  project: string;
  port: number;
}

function skiff(s: Side, args: string[], stdin = ""): { pid: number; done: Promise<Run> } {
  const c = spawn(process.execPath, [BIN, ...args], { cwd: s.p.dir, env: { ...process.env, SKIFF_AGE_IDENTITY: keyFile, NO_COLOR: "1", SKIFF_SOCKET_DIR: s.p.socketDir }, stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  c.stdout.on("data", (b) => (stdout += b));
  c.stderr.on("data", (b) => (stderr += b));
  c.stdin.end(stdin);
  return { pid: c.pid!, done: new Promise((resolve) => c.on("close", (code) => resolve({ code, stdout, stderr }))) };
}
const run = (s: Side, args: string[], stdin?: string) => skiff(s, args, stdin).done;
const ok = (r: Run, what: string) => assert.equal(r.code, 0, `${what}: ${r.stdout}${r.stderr}`);
const onAll = async (cmd: string) => (await Promise.all(bed.machines.map((m) => faults.exec(m, cmd)))).join("");

/** An image of the C example app with busybox beside it: exec and run need a shell in the container. */
function containerContext(): string {
  const dir = mkdtempSync(join(tmpdir(), "skiff-reach-img-"));
  copyFileSync(join(HELLO, "hello.c"), join(dir, "hello.c"));
  writeFileSync(
    join(dir, "Dockerfile"),
    // The builder's first step is examples/hello's own (Docker's cache has it); busybox comes in a stage of its own.
    `ARG BUILDER=skiff-testbed-base:bookworm
FROM \${BUILDER} AS build
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gcc libc6-dev >/dev/null && rm -rf /var/lib/apt/lists/*
COPY hello.c /src/hello.c
RUN gcc -O2 -Wall -static -pthread -DAPP_VERSION='"c1"' -o /hello /src/hello.c
FROM \${BUILDER} AS box
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends busybox-static >/dev/null && mkdir -p /out/bin && cp /bin/busybox /out/bin/ && for c in sh cat id pwd sleep; do ln -s busybox /out/bin/$c; done
FROM scratch
COPY --from=build /hello /hello
COPY --from=box /out/bin /bin
EXPOSE 3000
ENTRYPOINT ["/hello"]
`,
  );
  return dir;
}

function configure(s: Side, app: string): void {
  const machines = bed.machines.map((m) => `  ${m.name}: { host: 127.0.0.1, port: ${m.sshPort}, private_address: ${m.address}, http_port: ${s.port}, ssh: { identity_file: ${bed.identityFile} } }`).join("\n");
  mkdirSync(join(s.p.dir, "conf"), { recursive: true });
  writeFileSync(join(s.p.dir, "conf", "app.txt"), `file of ${s.project}\n`);
  writeFileSync(
    join(s.p.dir, "skiff.yml"),
    `project: ${s.project}
machines:
${machines}
secrets: { recipients: [${recipient}] }
apps:
  web:
${app}    env: { VERSION: v1 }
    secrets: [REACH_SECRET]
    routes: [{ path: / }]
    health: { interval: 200ms, deadline: 10s }
    deploy: { drain_timeout: 2s, stop_timeout: 2s, probation: 2s }
`,
  );
}

async function prepare(s: Side): Promise<void> {
  ok(await run(s, ["secrets", "set", "REACH_SECRET"], SECRET), "secrets set");
  ok(await run(s, ["machines", "trust", "--yes"]), "trust");
  ok(await run(s, ["setup"]), "setup");
  await run(s, ["lock", "release", "--force"]);
  await run(s, ["remove", "web", "--yes"]);
  ok(await run(s, ["deploy"]), "deploy");
}

interface StatusMachine {
  machine: string;
  apps: { app: string; active: number; instances: { name: string; healthy: boolean }[] }[];
}
const instances = async (s: Side) => (JSON.parse((await run(s, ["--json", "status"])).stdout) as StatusMachine[]).flatMap((m) => m.apps.flatMap((a) => a.instances.map((i) => ({ machine: m.machine, ...i }))));

/** Nothing of one-off runs on any machine: no instance directory, process, cgroup or container. */
async function nothingLeft(project: string): Promise<void> {
  const left = await onAll(
    `ls -d /var/lib/skiff/instances/skiff-${project}-web-run-* 2>/dev/null; ` +
      `grep -l 'SKIFF_INSTANCE=skiff-${project}-web-run-' /proc/[0-9]*/environ 2>/dev/null; ` +
      `find /sys/fs/cgroup -maxdepth 4 -name 'skiff-${project}-web-run-*' 2>/dev/null; ` +
      `docker ps -aq --filter label=skiff.run=1 --filter label=skiff.project=${project}; ` +
      `find /sys/fs/cgroup -maxdepth 5 -name 'exec-*' -path '*skiff*' 2>/dev/null; true`,
  );
  assert.equal(left.trim(), "", `left behind:\n${left}`);
}

/** The CLI with a terminal of its own (script(1)), as a person at a keyboard runs it. */
function inTerminal(s: Side, args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    const line = [process.execPath, BIN, ...args].map((w) => `'${w}'`).join(" ");
    const t = spawn("script", ["-qec", line, "/dev/null"], { cwd: s.p.dir, env: { ...process.env, NO_COLOR: "1", SKIFF_SOCKET_DIR: s.p.socketDir }, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    t.stdout.on("data", (b) => (stdout += b));
    t.stderr.on("data", (b) => (stderr += b));
    t.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** Starts `skiff run … -- sleep 300`, waits for the one-off to run on its machine, sends Ctrl-C (SIGINT). */
async function interruptedRun(s: Side, exists: string): Promise<Run> {
  const r = skiff(s, ["run", "web", "--", "sleep", "300"]);
  for (let i = 0; i < 150 && !(await onAll(exists)).trim(); i++) await sleep(200);
  assert.ok((await onAll(exists)).trim(), "the one-off started");
  process.kill(r.pid, "SIGINT");
  return r.done;
}

describe("skiff exec, run and restart on 3 machines", { timeout: 900_000 }, () => {
  const c: Side = { p: undefined as unknown as Project, project: "reachc", port: 8108 };
  const pr: Side = { p: undefined as unknown as Project, project: "reachp", port: 8109 };

  before(async () => {
    bed = await up({ count: 3, log: (s) => console.error(`bed: ${s}`) });
    for (const m of bed.machines) await faults.freeDisk(m);
    keyFile = join(mkdtempSync(join(tmpdir(), "skiff-age-")), "key.txt");
    recipient = /public key: (age1\w+)/.exec(execFileSync(process.execPath, [BIN, "secrets", "keygen"], { env: { ...process.env, SKIFF_AGE_IDENTITY: keyFile }, encoding: "utf8" }))![1]!;
    c.p = makeProject();
    pr.p = makeProject();
    configure(c, `    build: { context: ${containerContext()} }\n    port: 3000\n    instances: 2\n    files: { /etc/app.txt: conf/app.txt }\n`);
    configure(pr, `    run: node server.js\n    artifact: ${HELLO_NODE}\n    instances: 6\n    files: { conf/app.txt: conf/app.txt }\n`);
    await prepare(c);
    await prepare(pr);
  });

  it("exec in a container: the app's env with its secret, its files, stdin with -i, the command's exit code", async () => {
    const r = await run(c, ["exec", "web", "--", "sh", "-c", 'printf "%s|%s\\n" "$REACH_SECRET" "$VERSION"; cat /etc/app.txt; echo to-stderr >&2; exit 7']);
    assert.equal(r.code, 7, r.stderr);
    assert.equal(r.stdout, `${SECRET}|v1\nfile of reachc\n`);
    assert.match(r.stderr, /to-stderr/);
    const piped = await run(c, ["exec", "web", "-i", "--", "cat"], "through stdin\n");
    assert.equal(piped.code, 0, piped.stderr);
    assert.equal(piped.stdout, "through stdin\n");
    // A named instance, on its machine; a wrong name lists the valid ones.
    const all = await instances(c);
    const last = all.at(-1)!;
    const named = await run(c, ["exec", "web", "--instance", last.name.slice(-6), "--", "sh", "-c", "echo $SKIFF_INSTANCE"]);
    assert.equal(named.stdout.trim(), last.name, named.stderr);
    const wrong = await run(c, ["exec", "web", "--instance", "nope", "--", "true"]);
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, new RegExp(`web has no instance "nope"[\\s\\S]*hint: instances: .*${last.name}`));
    // -t: a terminal on the machine over ssh -t.
    const tty = await inTerminal(c, ["exec", "web", "-t", "--", "sh", "-c", "tty; exit 6"]);
    assert.equal(tty.code, 6, tty.stdout + tty.stderr);
    assert.match(tty.stdout, /\/dev\/pts\/\d+/);
    const noApp = await run(c, ["exec", "api", "--", "true"]);
    assert.match(noApp.stderr, /no app named "api"[\s\S]*hint: apps: web/);
  });

  it("exec in a process instance: the app's user, env and secret, working directory, files and cgroup; nothing left after", async () => {
    const r = await run(pr, ["exec", "web", "--", "sh", "-c", 'printf "%s|%s|%s|%s\\n" "$REACH_SECRET" "$(id -un)" "$(pwd)" "$PORT"; cat conf/app.txt; grep -m1 memory /proc/self/cgroup; exit 5']);
    assert.equal(r.code, 5, r.stderr);
    const [line, file, cgroup] = r.stdout.split("\n");
    const [secret, user, dir, port] = line!.split("|");
    assert.equal(secret, SECRET);
    assert.equal(user, "skiff_reachp_web");
    assert.match(dir!, /^\/var\/lib\/skiff\/work\/reachp\/web\/\d+$/);
    assert.match(port!, /^2\d{4}$/);
    assert.equal(file, "file of reachp");
    assert.match(cgroup!, /memory:\/.*skiff\/skiff-reachp-web-\d+-[0-9a-f]{6}\/exec-\d+$/);
    // The exec's cgroup went with it; the instances still run healthy (the session was not taken for the app).
    await nothingLeft("reachp");
    assert.ok((await instances(pr)).every((i) => i.healthy));
  });

  it("run: a one-off of the current release with env, secret and files, its exit code; nothing left behind, also after Ctrl-C", async () => {
    for (const [s, file] of [[c, "/etc/app.txt"], [pr, "conf/app.txt"]] as const) {
      const r = await run(s, ["run", "web", "--", "sh", "-c", `printf "%s|%s\\n" "$REACH_SECRET" "$SKIFF_RELEASE"; cat ${file}; exit 3`]);
      assert.equal(r.code, 3, `${s.project}: ${r.stderr}`);
      const [line, content] = r.stdout.split("\n");
      assert.equal(line!.split("|")[0], SECRET, s.project);
      assert.match(line!.split("|")[1]!, /^\d+$/);
      assert.equal(content, `file of ${s.project}`);
      await nothingLeft(s.project);
      // A console: a terminal on the machine, in the one-off.
      const tty = await inTerminal(s, ["run", "web", "-t", "--", "sh", "-c", "tty; exit 4"]);
      assert.equal(tty.code, 4, `${s.project}: ${tty.stdout}${tty.stderr}`);
      assert.match(tty.stdout, /\/dev\/pts\/\d+/);
      await nothingLeft(s.project);
    }
    const procStop = await interruptedRun(pr, `ls -d /var/lib/skiff/instances/skiff-reachp-web-run-* 2>/dev/null; true`);
    assert.equal(procStop.code, 130, procStop.stderr);
    await nothingLeft("reachp");
    const dockerStop = await interruptedRun(c, `docker ps -q --filter label=skiff.run=1 --filter label=skiff.project=reachc`);
    assert.equal(dockerStop.code, 130, dockerStop.stderr);
    await nothingLeft("reachc");
  });

  it("restart under load: new instances everywhere, no failed request, in history as a restart", async () => {
    const before = new Set((await instances(pr)).map((i) => i.name));
    const load = startLoad({ urls: bed.machines.map((m) => `http://${m.address}:${pr.port}/`), concurrency: 12, maxMs: 120_000, alsoAllow: (host) => bed.machines.some((m) => m.address === host) });
    await sleep(300);
    const r = await run(pr, ["restart"]);
    await sleep(1000);
    const l = await load.stop();
    ok(r, "restart");
    assert.ok(l.requests > 100, `only ${l.requests} requests`);
    assert.equal(l.failures, 0, `${l.failures} of ${l.requests} requests failed: ${JSON.stringify(l.samples.slice(0, 5))}`);
    const after = await instances(pr);
    assert.equal(after.length, before.size);
    assert.ok(after.every((i) => !before.has(i.name) && i.healthy), JSON.stringify(after));
    const rows = JSON.parse((await run(pr, ["--json", "history", "web"])).stdout) as { action: string; by?: string; machines: Record<string, { result: string }> }[];
    const row = rows.at(-1)!;
    assert.equal(row.action, "restart");
    assert.ok(row.by);
    assert.deepEqual(Object.values(row.machines).map((m) => m.result), ["ok", "ok", "ok"]);
    // One machine only: the others keep their instances.
    const again = new Map((await instances(pr)).map((i) => [i.name, i.machine]));
    ok(await run(pr, ["restart", "web", "--machine", "m2"]), "restart m2");
    const later = await instances(pr);
    for (const i of later) assert.equal(again.has(i.name), i.machine !== "m2", `${i.machine} ${i.name}`);
  });
});
