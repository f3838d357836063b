// Deploy, rollback, history and status on a 3-machine bed, with the example
// app and a load client that counts every failed request.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import http from "node:http";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { startLoad, type LoadResult } from "../../src/load/load.ts";
import { bedConfig, faults, up, type Bed } from "../../testbed/bed.ts";
import { makeProject, type Project, type Run } from "./helpers.ts";

const HELLO = new URL("../../examples/hello", import.meta.url).pathname;

let bed: Bed;
let p: Project;

interface AppOpts {
  version: string;
  env?: Record<string, string>;
  deadline?: string;
  /** In all, spread over the 3 machines (6: two on each). */
  instances?: number;
  memory?: string;
  /** deploy.canary_wait */
  canaryWait?: string;
}

/** Writes skiff.yml for the example app; the version is a build arg, so each version is its own image. */
function configure(o: AppOpts): void {
  const env = Object.entries(o.env ?? {}).map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join(", ");
  writeFileSync(
    join(p.dir, "skiff.yml"),
    bedConfig(bed, {
      extra: `apps:
  web:
    build: { context: ${HELLO}, args: { VERSION: ${o.version} } }
    port: 3000
    instances: ${o.instances ?? 6}
    health: { path: /healthz, interval: 200ms, deadline: ${o.deadline ?? "10s"} }
    routes: [{ path: / }]
    env: { ${env} }
${o.memory ? `    resources: { memory: ${o.memory} }\n` : ""}    deploy: { drain_timeout: 3s, stop_timeout: 2s, probation: 20s${o.canaryWait ? `, canary_wait: ${o.canaryWait}` : ""} }
`,
    }),
  );
}

const urls = () => bed.machines.map((m) => `http://127.0.0.1:${m.httpPort}/`);

/** What a new client gets from each machine: a request on a connection of its own. (fetch keeps connections alive,
 *  and after a reload the old HAProxy process answers a kept connection's next request with its own, older routes
 *  before it closes it — by design, so no request fails — which is not what the machine now serves.) */
async function versionsOn(machines: Bed["machines"]): Promise<string[]> {
  const fresh = (port: number) =>
    new Promise<string>((resolve, reject) => {
      http.get(`http://127.0.0.1:${port}/`, { agent: false }, (res) => {
        let body = "";
        res.on("data", (b) => (body += b));
        res.on("end", () => resolve(body));
      }).on("error", reject);
    });
  return Promise.all(machines.map(async (m) => (await fresh(m.httpPort)).split(" ")[2]!));
}
const versionsServed = () => versionsOn(bed.machines);

/** Runs a CLI command under load on all three machines. */
async function underLoad(args: string[], settleMs = 1000): Promise<{ run: Run; load: LoadResult }> {
  const load = startLoad({ urls: urls(), concurrency: 12, maxMs: 120_000 });
  await new Promise((r) => setTimeout(r, 300));
  const run = await p.skiff(args);
  await new Promise((r) => setTimeout(r, settleMs));
  return { run, load: await load.stop() };
}

/** What each machine's HAProxy and agent say, for a failure message. */
async function diagnostics(): Promise<string> {
  const q = `require("net").createConnection("/run/skiff/haproxy.sock").on("connect", function () { this.write("show servers state\\n") }).pipe(process.stdout)`;
  const out: string[] = [];
  for (const m of bed.machines) {
    const servers = await faults.exec(m, `/var/lib/skiff/node/bin/node -e '${q}' | awk 'NR>2 && $7 != 1 {print $2, $4, $5, "op=" $6, "admin=" $7}'`).catch((e: Error) => e.message);
    const log = await faults.exec(m, "tail -n 8 /var/log/skiff/agent.log").catch((e: Error) => e.message);
    const q2 = `require("net").createConnection("/run/skiff/haproxy.sock").on("connect", function () { this.write("show stat\\n") }).pipe(process.stdout)`;
    const stat = await faults.exec(m, `/var/lib/skiff/node/bin/node -e '${q2}' | cut -d, -f1,2,8,13-18,40-45 | head -60`).catch((e: Error) => e.message);
    out.push(`--- ${m.name} servers not in maint:\n${servers}\n--- ${m.name} agent log:\n${log}\n--- stat:\n${stat}`);
  }
  return out.join("\n");
}

async function noFailures(l: LoadResult): Promise<void> {
  if (l.failures) assert.fail(`${l.failures} of ${l.requests} requests failed: ${JSON.stringify(l.samples.slice(0, 5))}\n${await diagnostics()}`);
}

interface HistoryRow {
  app: string;
  release: number;
  action: string;
  commit?: string;
  by?: string;
  machines: Record<string, { result: string; reason?: string }>;
}

interface StatusMachine {
  machine: string;
  apps: { app: string; active: number; instances: { name: string; release: number; running: boolean; healthy: boolean; restarts: number; lastExit?: { code: number; reason: string } }[] }[];
}

const json = <T>(r: Run): T => JSON.parse(r.stdout) as T;

describe("deploy, rollback, history, status on 3 machines", { timeout: 900_000 }, () => {
  before(async () => {
    // Fresh machines: what other suites or benches left there must not decide this suite's result.
    bed = await up({ count: 3, fresh: true, log: (s) => console.error(`bed: ${s}`) });
    p = makeProject(bed);
    configure({ version: "v1" });
    for (const args of [["machines", "trust", "--yes"], ["setup"]]) {
      const r = await p.skiff(args);
      assert.equal(r.code, 0, r.stderr);
    }
  });

  it("v1 → v2 → rollback → v3, under load with no failed request; history and status match the machines", async () => {
    configure({ version: "v1", env: { MARK: "one" } });
    const d1 = await p.skiff(["deploy"]);
    assert.equal(d1.code, 0, d1.stderr);
    assert.deepEqual(await versionsServed(), ["v1", "v1", "v1"]);
    const first = json<StatusMachine[]>(await p.skiff(["--json", "status"]))[0]!.apps[0]!.active;

    configure({ version: "v2", env: { MARK: "two" } });
    const d2 = await underLoad(["deploy"]);
    assert.equal(d2.run.code, 0, d2.run.stderr);
    await noFailures(d2.load);
    assert.deepEqual(await versionsServed(), ["v2", "v2", "v2"]);

    const rb = await underLoad(["rollback"]);
    assert.equal(rb.run.code, 0, rb.run.stderr);
    await noFailures(rb.load);
    assert.match(rb.run.stdout, new RegExp(`web: release ${first} serving on m1, m2, m3`));
    assert.deepEqual(await versionsServed(), ["v1", "v1", "v1"]);
    // Whole release: the config came back too, not only the image.
    for (const m of bed.machines) {
      const env = await faults.exec(m, `docker ps --filter label=skiff.app=web --filter label=skiff.release=${first} --format '{{.Names}}' | xargs -n1 docker inspect --format '{{range .Config.Env}}{{println .}}{{end}}' | grep '^MARK=' | sort -u`);
      assert.equal(env, "MARK=one");
    }

    configure({ version: "v3", env: { MARK: "three" } });
    const d3 = await underLoad(["deploy"]);
    assert.equal(d3.run.code, 0, d3.run.stderr);
    await noFailures(d3.load);
    assert.deepEqual(await versionsServed(), ["v3", "v3", "v3"]);

    const rows = json<HistoryRow[]>(await p.skiff(["--json", "history", "web"])).filter((r) => r.action !== "restart");
    const last4 = rows.slice(-4);
    const third = last4[3]!.release;
    assert.deepEqual(
      last4.map((r) => [r.release, r.action, Object.keys(r.machines).sort().join(","), [...new Set(Object.values(r.machines).map((x) => x.result))].join()]),
      [
        [first, "deploy", "m1,m2,m3", "ok"],
        [first + 1, "deploy", "m1,m2,m3", "ok"],
        [first, "rollback", "m1,m2,m3", "ok"],
        [third, "deploy", "m1,m2,m3", "ok"],
      ],
    );
    assert.ok(third > first + 1);
    assert.ok(last4.every((r) => r.commit && r.by));

    const status = json<StatusMachine[]>(await p.skiff(["--json", "status"]));
    for (const s of status) {
      const web = s.apps.find((a) => a.app === "web")!;
      assert.equal(web.active, third);
      assert.equal(web.instances.length, 2);
      assert.ok(web.instances.every((i) => i.running && i.healthy && i.release === third));
      const m = bed.machines.find((x) => x.name === s.machine)!;
      const running = (await faults.exec(m, `docker ps --filter label=skiff.app=web --filter label=skiff.release=${third} --format '{{.Names}}' | sort`)).split("\n");
      assert.deepEqual(running, web.instances.map((i) => i.name).sort());
    }

    // Rolled back from v2 to v1, then v3: the way back from v3 is v1 (what served before it), not v2.
    const back = await p.skiff(["rollback", "--dry-run"]);
    assert.equal(back.code, 0, back.stderr);
    assert.match(back.stdout, new RegExp(`^web → release ${first} \\(the one that served before; not ${first + 1}: rolled back from\\)$`, "m"));
  });

  for (const bad of [
    { name: "crashes at boot", env: { CRASH_AT_BOOT: "1" } as Record<string, string>, deadline: "10s", reason: /exited with code 1 before becoming healthy/, log: /CRASH_AT_BOOT=1: exiting before listening/ },
    { name: "never becomes healthy", env: { NEVER_HEALTHY: "1" }, deadline: "3s", reason: /was not healthy within the 3s deadline \(last check of \/healthz: HTTP 503\)/, log: /listening on :3000/ },
    { name: "becomes healthy only after the deadline", env: { HEALTHY_AFTER: "6" }, deadline: "3s", reason: /was not healthy within the 3s deadline/, log: /healthy after 6s/ },
  ]) {
    it(`a release that ${bad.name} never takes traffic, and the old one serves every request`, async () => {
      const before = await versionsServed();
      configure({ version: "v3", env: { MARK: "three", ...bad.env }, deadline: bad.deadline });
      const { run, load } = await underLoad(["deploy"]);
      assert.equal(run.code, 1, run.stdout + run.stderr);
      assert.match(run.stderr, /web: release \d+ failed on m1: /);
      assert.match(run.stderr, bad.reason);
      assert.match(run.stderr, /last \d+ log line\(s\) of skiff-bedtest-web-/);
      assert.match(run.stderr, bad.log);
      await noFailures(load);
      assert.equal(load.versions[before[0]!], load.requests, `served: ${JSON.stringify(load.versions)}`);
      assert.deepEqual(await versionsServed(), before);
      // The failing instances are gone: every container left belongs to a release that served before.
      const failedRelease = Number(/release (\d+) failed/.exec(run.stderr)![1]);
      for (const m of bed.machines) assert.equal(await faults.exec(m, `docker ps -a --filter label=skiff.app=web --filter label=skiff.release=${failedRelease} --format '{{.Names}}' | wc -l`), "0");
      const rows = json<HistoryRow[]>(await p.skiff(["--json", "history", "web"]));
      const last = rows.filter((r) => r.action === "deploy").at(-1)!;
      assert.deepEqual(Object.keys(last.machines), ["m1"]);
      assert.equal(last.machines.m1!.result, "failed");
      assert.match(last.machines.m1!.reason!, bad.reason);
    });
  }

  it("a release that dies 5 s after becoming healthy is restarted by the agent; no request fails; status and history show it", async () => {
    configure({ version: "v4", env: { MARK: "four-good" } });
    const good = await p.skiff(["deploy"]);
    assert.equal(good.code, 0, good.stderr);
    configure({ version: "v4", env: { MARK: "four", DIE_AFTER: "5" } });
    const { run, load } = await underLoad(["deploy"], 9000);
    assert.equal(run.code, 0, run.stderr);
    await noFailures(load);
    const status = json<StatusMachine[]>(await p.skiff(["--json", "status"]));
    for (const s of status) {
      const insts = s.apps.find((a) => a.app === "web")!.instances;
      assert.ok(insts.every((i) => i.restarts >= 1), JSON.stringify(insts));
      assert.ok(insts.every((i) => i.lastExit?.code === 1 && /exited with code 1/.test(i.lastExit.reason)));
    }
    const table = await p.skiff(["status"]);
    assert.match(table.stdout, /exit 1: exited with code 1/);
    const restarts = json<HistoryRow[]>(await p.skiff(["--json", "history", "web"])).filter((r) => r.action === "restart");
    assert.ok(new Set(restarts.flatMap((r) => Object.keys(r.machines))).size === 3);
    assert.match(Object.values(restarts.at(-1)!.machines)[0]!.reason!, /exited with code 1; restarting in \d+s/);

    configure({ version: "v5", env: { MARK: "five" } });
    const after = await p.skiff(["deploy"]);
    assert.equal(after.code, 0, after.stderr);
  });

  it("with canary_wait, a release that dies soon after becoming healthy stops at the canary: no other machine runs it, no request fails", async () => {
    const before = json<StatusMachine[]>(await p.skiff(["--json", "status"])).map((s) => s.apps.find((a) => a.app === "web")!.active);
    configure({ version: "v5", env: { MARK: "five-dies", DIE_AFTER: "2" }, canaryWait: "8s" });
    const { run, load } = await underLoad(["deploy"], 3000);
    assert.equal(run.code, 1, run.stdout + run.stderr);
    const canary = /watching the canary \((m\d)\) for 8\.0s before the next wave/.exec(run.stdout + run.stderr)?.[1];
    assert.ok(canary, run.stdout + run.stderr);
    assert.match(run.stdout + run.stderr, /canary: instance \S+ (restarted \d+ time\(s\) during the canary wait|stopped during the canary wait)/);
    await noFailures(load);
    const after = json<StatusMachine[]>(await p.skiff(["--json", "status"])).map((s) => s.apps.find((a) => a.app === "web")!.active);
    assert.deepEqual(after, before, "every machine is back on (or never left) the release it served");
    const failed = json<HistoryRow[]>(await p.skiff(["--json", "history", "web"])).filter((r) => r.action === "deploy").at(-1)!;
    assert.ok(failed.machines[canary], `the canary's part is in the history: ${JSON.stringify(failed)}`);
    for (const m of bed.machines.filter((x) => x.name !== canary)) assert.equal(await faults.exec(m, `docker ps -a --filter label=skiff.app=web --filter label=skiff.release=${failed.release} --format '{{.Names}}' | wc -l`), "0", `${m.name} never ran release ${failed.release}`);
    configure({ version: "v5", env: { MARK: "five" } });
  });

  it("a second deploy while one runs fails naming the holder", async () => {
    configure({ version: "v5", env: { MARK: "five-b", HEALTHY_AFTER: "2" } });
    const first = p.skiff(["deploy"]);
    await new Promise((r) => setTimeout(r, 800));
    const second = await p.skiff(["deploy"]);
    assert.equal(second.code, 1);
    // One lock per project, taken machine by machine in name order: the first machine names the holder.
    assert.match(second.stderr, /another deploy holds the lock of project bedtest on m1: .*#\d+-\d+ \(deploy web, pid \d+ on /);
    const done = await first;
    assert.equal(done.code, 0, done.stderr);
  });

  it("a CLI killed mid-deploy leaves every machine serving one complete release; the lock is detected and broken; a re-run converges", async () => {
    configure({ version: "v6", env: { MARK: "six", HEALTHY_AFTER: "2" } });
    const m1 = bed.machines[0]!;
    const releasesOnM1 = async () => (await faults.exec(m1, `docker ps -a --filter label=skiff.app=web --format '{{.Label "skiff.release"}}'`)).split("\n").filter(Boolean).map(Number);
    const newest = Math.max(0, ...(await releasesOnM1()));
    const child = p.start(["deploy"]);
    // Kill it while m1 is switching: once m1 starts an instance of the new release (its instances need ~2 s to
    // become healthy). A fixed delay was too short on a loaded host: the CLI had not even taken the lock.
    const t0 = Date.now();
    while (!(await releasesOnM1()).some((r) => r > newest)) {
      assert.ok(Date.now() - t0 < 120_000, "m1 never started an instance of the new release");
      await new Promise((r) => setTimeout(r, 100));
    }
    process.kill(child.pid, "SIGKILL");
    await child.done;
    // Activations already running finish on the machines (m1's gate takes HEALTHY_AFTER plus checks, then a drain):
    // each machine must settle on one complete release, and stay there.
    const servedBy = async (m: (typeof bed.machines)[number]) => {
      const served = new Set<string>();
      for (let i = 0; i < 20; i++) served.add((await (await fetch(`http://127.0.0.1:${m.httpPort}/`)).text()).split(" ")[2]!);
      return served;
    };
    for (const m of bed.machines) {
      const until = Date.now() + 30_000;
      let served = await servedBy(m);
      while (served.size !== 1 && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 500));
        served = await servedBy(m);
      }
      assert.equal(served.size, 1, `${m.name} still serves ${[...served].join(" and ")} 30 s after the kill`);
      assert.deepEqual(await servedBy(m), served, `${m.name} settled, then changed again`);
    }
    const blocked = await p.skiff(["deploy"]);
    assert.equal(blocked.code, 1);
    assert.match(blocked.stderr, /another deploy holds the lock/);
    const status = await p.skiff(["lock", "status"]);
    assert.match(status.stdout, /m1: locked by .*\(deploy web, pid \d+/);
    // Its last heartbeat is seconds old: a plain release refuses (it could be a live deploy); --force breaks it.
    const refused = await p.skiff(["lock", "release"]);
    assert.equal(refused.code, 1, refused.stdout + refused.stderr);
    assert.match(refused.stderr, /m1: refused: the lock is live/);
    const release = await p.skiff(["lock", "release", "--force"]);
    assert.equal(release.code, 0, release.stderr);
    assert.match(release.stdout, /m1: released the lock held by/);
    const rerun = await p.skiff(["deploy"]);
    assert.equal(rerun.code, 0, rerun.stderr);
    assert.deepEqual(await versionsServed(), ["v6", "v6", "v6"]);
  });

  it("a container over its memory limit is killed by Docker; the agent restarts it; status and history say out of memory", async () => {
    configure({ version: "v6", env: { MARK: "six" }, memory: "48M" });
    const d = await p.skiff(["deploy"]);
    assert.equal(d.code, 0, d.stderr);
    type Inst = { name: string; bindAddress?: string; hostPort: number; running: boolean; healthy: boolean; restarts: number; lastExit?: { code: number; oomKilled: boolean; reason: string } };
    const insts = () => p.skiff(["--json", "status"]).then((r) => json<{ machine: string; apps: { app: string; instances: Inst[] }[] }[]>(r)[0]!.apps.find((a) => a.app === "web")!.instances);
    const victim = (await insts())[0]!;
    const limit = await faults.exec(bed.machines[0]!, `docker inspect --format '{{.HostConfig.Memory}}' ${victim.name}`);
    assert.equal(limit.trim(), String(48 * 1024 * 1024));
    const load = startLoad({ urls: urls(), concurrency: 6 });
    // From the instance's own machine: instances listen on its loopback (other machines come through the mesh).
    await faults.exec(bed.machines[0]!, `curl -s -o /dev/null --max-time 10 http://${victim.bindAddress}:${victim.hostPort}/alloc?mb=200 || true`);
    let after: Inst | undefined;
    for (let i = 0; i < 100; i++) {
      after = (await insts()).find((x) => x.name === victim.name);
      if (after?.lastExit?.oomKilled && after.running && after.healthy) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    await noFailures(await load.stop());
    assert.equal(after?.lastExit?.oomKilled, true, JSON.stringify(after));
    assert.equal(after?.lastExit?.code, 137);
    assert.match((await p.skiff(["status"])).stdout, /OOM killed/);
    const restarts = json<HistoryRow[]>(await p.skiff(["--json", "history", "web"])).filter((r) => r.action === "restart");
    assert.ok(restarts.some((r) => Object.values(r.machines).some((m) => /out of memory/.test(m.reason ?? ""))), JSON.stringify(restarts.slice(-2)));
  });

  it("Ctrl-C mid-deploy: the machine in progress finishes, switched machines go back, the lock is released", async () => {
    const before = await versionsServed();
    configure({ version: "v6", env: { MARK: "six-c", HEALTHY_AFTER: "2" } });
    const child = p.start(["deploy"]);
    // Interrupt once the rollout has begun (the canary wave is under way: its instance takes 2 s to boot), not at a
    // fixed time: on a loaded host the CLI may not even have started by then.
    for (let waited = 0; !/wave 1\/\d+ \(canary\)/.test(child.stderr()) && waited < 60_000; waited += 50) await new Promise((r) => setTimeout(r, 50));
    assert.match(child.stderr(), /wave 1\/2 \(canary\): release \d+ on m1/);
    process.kill(child.pid, "SIGINT");
    const r = await child.done;
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /interrupted: finishing the machines in progress/);
    assert.match(r.stderr, /failed on local: interrupted \(Ctrl-C\)/);
    assert.deepEqual(await versionsServed(), before);
    const lock = await p.skiff(["lock", "status"]);
    assert.equal(lock.stdout.match(/not locked/g)?.length, 3, lock.stdout);
  });

  it("a machine unreachable before the deploy: a clear error naming it, nothing changed anywhere; --skip-unreachable goes on without it", async () => {
    const m3 = bed.machines[2]!;
    configure({ version: "v7", env: { MARK: "seven" } });
    await faults.disconnect(m3);
    try {
      const r = await p.skiff(["deploy"]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /error: m3 unreachable; nothing was changed on any machine/);
      assert.match(r.stderr, /--skip-unreachable/);
      assert.deepEqual(await versionsOn(bed.machines.slice(0, 2)), ["v6", "v6"]);
      const m3Active = () => faults.exec(m3, "sed -n 's/.*\"active\": \\([0-9]*\\).*/\\1/p' /var/lib/skiff/apps/bedtest/web/state.json");
      const before = await m3Active();

      const skip = await p.skiff(["deploy", "--skip-unreachable"]);
      assert.equal(skip.code, 0, skip.stderr);
      assert.match(skip.stderr, /m3: unreachable, skipped \(--skip-unreachable\)/);
      assert.deepEqual(await versionsOn(bed.machines.slice(0, 2)), ["v7", "v7"]);
      assert.equal(await m3Active(), before);
    } finally {
      await faults.reconnect(m3);
    }
    const converge = await p.skiff(["deploy"]);
    assert.equal(converge.code, 0, converge.stderr);
    assert.deepEqual(await versionsServed(), ["v7", "v7", "v7"]);
  });
});
