// The deploy lock and partial failures on 3 bed machines (the Node example app as processes on its own (8095)
// public port, project "locktest"): two deploys at once, a live lock not broken without --force and a
// holder that stops when it is, a full disk named as such, a torn history line, secrets only where the
// app runs.
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { faults, up, type Bed } from "../../testbed/bed.ts";
import { makeProject, type Project, type Run } from "./helpers.ts";

const HELLO_NODE = new URL("../../examples/hello-node", import.meta.url).pathname;
const BIN = new URL("../../bin/skiff.js", import.meta.url).pathname;
/** GET on a connection of its own (no keep-alive pool). */
const getFresh = (url: string) =>
  new Promise<string>((resolve, reject) => {
    http.get(url, { agent: false }, (res) => {
      let body = "";
      res.on("data", (b) => (body += b));
      res.on("end", () => resolve(body));
    }).on("error", reject);
  });
const PORT = 8095; // its own public port: placement uses 8091, sandbox 8094
const SECRET = `lock-secret-${Math.random().toString(36).slice(2)}-9c1d`;

let bed: Bed;
let p: Project;
let keyFile: string;
let recipient: string;

function skiff(args: string[], stdin = ""): { pid: number; done: Promise<Run> } {
  const c = spawn(process.execPath, [BIN, ...args], { cwd: p.dir, env: { ...process.env, SKIFF_AGE_IDENTITY: keyFile, NO_COLOR: "1", SKIFF_SOCKET_DIR: p.socketDir }, stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  c.stdout.on("data", (b) => (stdout += b));
  c.stderr.on("data", (b) => (stderr += b));
  c.stdin.end(stdin);
  return { pid: c.pid!, done: new Promise((resolve) => c.on("close", (code) => resolve({ code, stdout, stderr }))) };
}
const run = (args: string[], stdin?: string) => skiff(args, stdin).done;
const ok = (r: Run, what: string) => assert.equal(r.code, 0, `${what}: ${r.stdout}${r.stderr}`);

function configure(o: { version: string; env?: Record<string, string>; instances?: number; machines?: string[]; secrets?: boolean } = { version: "l1" }): void {
  const machines = (o.machines ?? bed.machines.map((m) => m.name)).map((name) => {
    const m = bed.machines.find((x) => x.name === name)!;
    return `  ${m.name}: { host: 127.0.0.1, port: ${m.sshPort}, private_address: ${m.address}, http_port: ${PORT}, ssh: { identity_file: ${bed.identityFile} } }`;
  });
  const env = Object.entries({ VERSION: o.version, ...o.env }).map(([k, v]) => `      ${k}: ${JSON.stringify(v)}`).join("\n");
  writeFileSync(
    join(p.dir, "skiff.yml"),
    `project: locktest
machines:
${machines.join("\n")}
secrets: { recipients: [${recipient}] }
apps:
  web:
    run: node server.js
    artifact: ${HELLO_NODE}
    instances: ${o.instances ?? 3}
    env:
${env}
${o.secrets ? "    secrets: [LOCK_SECRET]\n" : ""}    routes: [{ path: / }]
    health: { interval: 200ms, deadline: 8s }
    deploy: { drain_timeout: 1s, stop_timeout: 2s, probation: 1s, max_parallel: 1 }
`,
  );
}

const versionsServed = () => Promise.all(bed.machines.map(async (m) => (await (await fetch(`http://${m.address}:${PORT}/`)).text()).split(" ")[2]));

describe("deploy lock and partial failures on 3 machines", { timeout: 900_000 }, () => {
  before(async () => {
    bed = await up({ count: 3, log: (s) => console.error(`bed: ${s}`) });
    // A disk filled by another suite's fault lever and left full would decide this suite's result.
    for (const m of bed.machines) await faults.freeDisk(m);
    p = makeProject();
    keyFile = join(mkdtempSync(join(tmpdir(), "skiff-age-")), "key.txt");
    recipient = /public key: (age1\w+)/.exec(execFileSync(process.execPath, [BIN, "secrets", "keygen"], { env: { ...process.env, SKIFF_AGE_IDENTITY: keyFile }, encoding: "utf8" }))![1]!;
    configure({ version: "l1" });
    ok(await run(["machines", "trust", "--yes"]), "trust");
    ok(await run(["setup"]), "setup");
    // The bed is shared: this project starts from nothing, with no lock left by an earlier run.
    await run(["remove", "web", "--yes"]);
    await run(["lock", "release", "--force"]);
    ok(await run(["deploy"]), "first deploy");
  });

  it("two deploys started at the same moment: exactly one wins, the other names the holder (4 trials); with --wait both succeed in turn", async () => {
    for (let t = 0; t < 4; t++) {
      configure({ version: "l1", env: { MARK: `trial-${t}` } });
      const [a, b] = await Promise.all([run(["deploy"]), run(["deploy"])]);
      const codes = [a.code, b.code].sort();
      assert.deepEqual(codes, [0, 1], `trial ${t}:\n--- a (${a.code}):\n${a.stderr}\n--- b (${b.code}):\n${b.stderr}`);
      const loser = a.code === 1 ? a : b;
      assert.match(loser.stderr, /another deploy holds the lock of project locktest on m1: .*#\d+-\d+ \(deploy web, pid \d+ on /);
    }
    configure({ version: "l1", env: { MARK: "waited" } });
    const [a, b] = await Promise.all([run(["deploy", "--wait"]), run(["deploy", "--wait"])]);
    ok(a, "first --wait");
    ok(b, "second --wait");
    assert.match((await run(["lock", "status"])).stdout, /^m1: not locked\nm2: not locked\nm3: not locked\n$/);
  });

  it("lock release refuses a live lock; --force breaks it, and the holder stops and returns the machines it switched", async () => {
    const before = await versionsServed();
    // Slow to pass its gate (each machine ~4 s, one at a time): the deploy still holds the lock when it is released.
    configure({ version: "l2", env: { HEALTHY_AFTER: "4" } });
    // Another project on the same machines, to show it is not blocked by this deploy's lock.
    const other = makeProject(bed, "apps:\n  api:\n    image: nginx:1\n    port: 80\n");
    writeFileSync(join(other.dir, "skiff.yml"), readFileSync(join(other.dir, "skiff.yml"), "utf8").replace("project: bedtest", "project: lockother"));
    const trust = await other.skiff(["machines", "trust", "--yes"]);
    assert.equal(trust.code, 0, trust.stderr);
    const deploy = skiff(["deploy"]);
    // Until the deploy holds the lock on m1 (a fixed pause lost the race on a loaded CI host).
    for (let i = 0; ; i++) {
      const st = await run(["lock", "status"]);
      if (/^m1: locked by .*\(deploy web, pid \d+/m.test(st.stdout)) break;
      assert.ok(i < 100, `the deploy never took the lock on m1:\n${st.stdout}${st.stderr}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    // It gets past the lock, as far as finding it has nothing to roll back.
    const otherRb = await other.skiff(["rollback"]);
    assert.equal(otherRb.code, 1, otherRb.stderr);
    assert.match(otherRb.stderr, /api has never been deployed here/);
    const refused = await run(["lock", "release"]);
    assert.equal(refused.code, 1, refused.stdout + refused.stderr);
    assert.match(refused.stderr, /m1: refused: the lock is live — held by .*\(deploy web, pid \d+/);
    assert.match(refused.stderr, /pass --force/);
    const forced = await run(["lock", "release", "--force"]);
    ok(forced, "release --force");
    assert.match(forced.stdout, /m1: released the lock held by/);
    const d = await deploy.done;
    assert.equal(d.code, 1, d.stdout + d.stderr);
    assert.match(d.stderr, /failed on local: stopped: the deploy lock on m\d was broken or taken by another deploy/);
    assert.deepEqual(await versionsServed(), before);
  });

  it("a full disk on m3 is named as such, with a hint to free it; nothing changes", async () => {
    const m3 = bed.machines[2]!;
    const before = await versionsServed();
    configure({ version: "l3" });
    // (fill-disk has been seen to throw although it worked: what counts is that the disk is full.)
    await faults.fillDisk(m3).catch((e: Error) => console.error(`fillDisk: ${e.message}`));
    try {
      assert.equal((await faults.exec(m3, "df -k --output=avail /var/lib/skiff | tail -1")).trim(), "0");
      const r = await run(["deploy"]);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stderr, /error: m3: the disk of \/var\/lib\/skiff is full/);
      assert.match(r.stderr, /nothing was changed on any machine/);
      assert.match(r.stderr, /hint: free space on m3/);
      assert.doesNotMatch(r.stderr, /unreachable|skip-unreachable/);
      assert.deepEqual(await versionsServed(), before);
    } finally {
      await faults.freeDisk(m3);
    }
    assert.match((await run(["lock", "status"])).stdout, /m3: not locked/);
  });

  it("a torn line in history.jsonl: history and rollback still work and say a record was damaged", async () => {
    configure({ version: "l4" });
    ok(await run(["deploy"]), "deploy l4");
    const m1 = bed.machines[0]!;
    // (The bed is shared and kept between runs: earlier torn lines may be there too; this one is line `torn`.)
    const torn = Number((await faults.exec(m1, "wc -l < /var/lib/skiff/history.jsonl")).trim()) + 1;
    await faults.exec(m1, `printf '{"at":"2026-01-01T00:00:00Z","machine":"m1","proj' >> /var/lib/skiff/history.jsonl`);
    const damaged = new RegExp(`m1: \\d+ damaged record\\(s\\) in history\\.jsonl skipped \\(line (\\d+, )*${torn}\\b`);
    // A stray file under apps/ (an editor's backup, a half-copied directory) is skipped, not fatal.
    await faults.exec(m1, "echo stray > /var/lib/skiff/apps/stray.txt && echo stray > /var/lib/skiff/apps/locktest/README");
    const status = await run(["--json", "status"]);
    ok(status, "status with a stray file");
    assert.equal((JSON.parse(status.stdout) as { machine: string; apps: { app: string; active: number }[] }[]).find((m) => m.machine === "m1")!.apps.find((a) => a.app === "web")?.active !== undefined, true);
    const h = await run(["history", "web"]);
    ok(h, "history");
    assert.match(h.stdout, /web\s+\d+\s+deploy/);
    assert.match(h.stderr, damaged);
    const rb = await run(["rollback"]);
    ok(rb, "rollback");
    assert.match(rb.stderr, damaged);
    // The next record written after the torn one is whole.
    const again = await run(["--json", "history", "web"]);
    ok(again, "history after rollback");
    const rows = JSON.parse(again.stdout) as { action: string; machines: Record<string, unknown> }[];
    assert.ok(rows.at(-1)!.action === "rollback" && "m1" in rows.at(-1)!.machines, JSON.stringify(rows.at(-1)));
    await faults.exec(m1, "rm -f /var/lib/skiff/apps/stray.txt /var/lib/skiff/apps/locktest/README");
  });

  it("secrets only where the app runs: 2 machines, 1 instance; the other holds no secret value, and gets it with a scale to 2", async () => {
    ok(await run(["secrets", "set", "LOCK_SECRET"], SECRET), "secrets set");
    await run(["remove", "web", "--yes"]);
    configure({ version: "l5", instances: 1, machines: ["m1", "m2"], secrets: true });
    ok(await run(["deploy"]), "deploy with a secret");
    const st = JSON.parse((await run(["--json", "status"])).stdout) as { machine: string; apps: { app: string; instances: unknown[] }[] }[];
    const runs = (name: string) => st.find((s) => s.machine === name)!.apps.find((a) => a.app === "web")!.instances.length;
    const [withApp, without] = runs("m1") === 1 ? ["m1", "m2"] : ["m2", "m1"];
    assert.equal(runs(without), 0);
    const grep = (name: string) => faults.exec(bed.machines.find((m) => m.name === name)!, `grep -rl -- '${SECRET}' /var/lib/skiff || true`);
    assert.notEqual((await grep(withApp)).trim(), "", `${withApp} runs the app and has its secret`);
    assert.equal((await grep(without)).trim(), "", `${without} runs none of the app and must hold no secret value`);
    ok(await run(["scale", "web=2"]), "scale to 2");
    assert.notEqual((await grep(without)).trim(), "");
    const m = bed.machines.find((x) => x.name === without)!;
    // A new connection: one kept alive from the tests above may still belong to a HAProxy that was stopped
    // when the app was removed (it answers that connection's next request with its old state, then closes it).
    assert.equal((await getFresh(`http://${m.address}:${PORT}/`)).split(" ")[2], "l5");
    await run(["remove", "web", "--yes"]);
  });
});
