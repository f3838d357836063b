// A machine restart on a 2-machine bed, one instance of the app on each: from the
// moment the restarted machine's HAProxy answers until its own instance is back,
// the peer on the other machine serves; no 503. And HAProxy runs without root.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { startLoad } from "../../src/load/load.ts";
import { faults, up, type Bed } from "../../testbed/bed.ts";
import { makeProject, type Project } from "./helpers.ts";

const HELLO = new URL("../../examples/hello", import.meta.url).pathname;

let bed: Bed;
let p: Project;

type Status = { machine: string; apps: { app: string; instances: { name: string; running: boolean; healthy: boolean; startedAt: string }[] }[] }[];

describe("a machine restart", { timeout: 600_000 }, () => {
  before(async () => {
    // Fresh machines: apps other suites left on port 80 must not decide this suite's result.
    bed = await up({ count: 2, fresh: true, log: (s) => console.error(`bed: ${s}`) });
    p = makeProject(
      bed,
      `apps:
  web:
    build: { context: ${HELLO}, args: { VERSION: r1 } }
    port: 3000
    instances: 2
    health: { path: /healthz, interval: 200ms, deadline: 20s }
    routes: [{ path: / }]
`,
    );
    for (const args of [["machines", "trust", "--yes"], ["setup"], ["deploy"]]) {
      const r = await p.skiff(args);
      assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
    }
    const st = JSON.parse((await p.skiff(["--json", "status"])).stdout) as Status;
    assert.deepEqual(st.map((m) => m.apps.find((a) => a.app === "web")?.instances.length), [1, 1], "one instance on each machine");
  });

  it("no 503 (nor any failure) from the moment the restarted machine's HAProxy answers until its own instance is back", async () => {
    const [m1] = bed.machines;
    // Every request's outcome with its time: the window is read from them.
    const events: { t: number; what: string }[] = [];
    let running = true;
    const worker = async () => {
      while (running) {
        const t = Date.now();
        try {
          const r = await fetch(`http://127.0.0.1:${m1!.httpPort}/`, { signal: AbortSignal.timeout(5000) });
          await r.text();
          events.push({ t, what: String(r.status) });
        } catch (e) {
          events.push({ t, what: `error: ${((e as Error).cause as Error)?.message ?? (e as Error).message}` });
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    };
    // Local first: while m1's own instance is up, the peer (a backup there) takes none of m1's requests.
    const servedBy = async (port: number) => new Set(await Promise.all(Array.from({ length: 30 }, async () => (await (await fetch(`http://127.0.0.1:${port}/`)).text()).trim().split(" on ")[1])));
    const peerHost = [...(await servedBy(bed.machines[1]!.httpPort))];
    const localBefore = [...(await servedBy(m1!.httpPort))];
    assert.equal(localBefore.length, 1, `m1 served from ${localBefore.join(", ")}`);
    assert.notDeepEqual(localBefore, peerHost, "m1 serves from its own instance, not m2's");
    const workers = Array.from({ length: 4 }, worker);
    await new Promise((r) => setTimeout(r, 500));
    const t0 = Date.now();
    await faults.restart(m1!);
    // Until the restarted machine's own instance is healthy again (started after the restart), then a little more.
    let back = 0;
    for (let i = 0; i < 120 && !back; i++) {
      await new Promise((r) => setTimeout(r, 500));
      const r = await p.skiff(["--json", "status"]);
      if (r.code !== 0) continue;
      const inst = (JSON.parse(r.stdout) as Status).find((m) => m.machine === "m1")?.apps.find((a) => a.app === "web")?.instances[0];
      if (inst?.running && inst.healthy && Date.parse(inst.startedAt) > t0) back = Date.now();
    }
    await new Promise((r) => setTimeout(r, 1000));
    running = false;
    await Promise.all(workers);
    assert.ok(back > 0, "m1's instance came back");
    // HAProxy answers again: the first HTTP answer after the first failure of the restart.
    const down = events.find((e) => e.t >= t0 && e.what.startsWith("error"));
    assert.ok(down, "the restart was seen (connections failed while the machine was down)");
    const answering = events.find((e) => e.t > down.t && !e.what.startsWith("error"))!;
    const after = events.filter((e) => e.t >= answering.t);
    const failed = after.filter((e) => e.what !== "200");
    const count = (list: typeof events) => JSON.stringify(list.reduce<Record<string, number>>((o, e) => ((o[e.what] = (o[e.what] ?? 0) + 1), o), {}));
    console.error(`restart of m1: HAProxy answered ${answering.t - t0} ms after the restart began, its instance was back after ${back - t0} ms; before HAProxy answered: ${count(events.filter((e) => e.t >= t0 && e.t < answering.t))}; from then on: ${count(after)}`);
    assert.ok(back > answering.t, "the instance came back after HAProxy answered (there was a window to cover)");
    assert.deepEqual(failed.slice(0, 5).map((e) => `${e.t - answering.t} ms after HAProxy answered: ${e.what}`), [], `${failed.length} of ${after.length} requests failed once HAProxy answered`);
    assert.ok(after.filter((e) => e.t < back).length > 20, "requests were made in the window");
    // Back to local first once m1's instance is back (HAProxy's own check has seen it UP by now).
    const localAfter = [...(await servedBy(m1!.httpPort))];
    assert.equal(localAfter.length, 1, `m1 served from ${localAfter.join(", ")}`);
    assert.notDeepEqual(localAfter, peerHost, "m1 serves from its own instance again");
  });

  it("HAProxy, as the agent started it after the restart, runs as the haproxy user, chrooted", async () => {
    const m1 = bed.machines[0]!;
    const users = (await faults.exec(m1, "ps -o user= -C haproxy")).split("\n").map((s) => s.trim());
    assert.ok(users.length > 0 && users.every((u) => u === "haproxy"), `haproxy runs as: ${users.join(", ")}`);
    const pid = (await faults.exec(m1, "cat /run/skiff/haproxy.pid")).split("\n")[0]!.trim();
    assert.equal(await faults.exec(m1, `readlink /proc/${pid}/root`), "/var/lib/haproxy");
  });

  it("a seamless reload (the health interval changes) under load, with HAProxy as haproxy: no request fails", async () => {
    const [m1] = bed.machines;
    const pidBefore = await faults.exec(m1!, "cat /run/skiff/haproxy.pid");
    writeFileSync(join(p.dir, "skiff.yml"), readFileSync(join(p.dir, "skiff.yml"), "utf8").replace("interval: 200ms", "interval: 300ms"));
    const load = startLoad({ urls: bed.machines.map((m) => `http://127.0.0.1:${m.httpPort}/`), concurrency: 8, maxMs: 120_000 });
    await new Promise((r) => setTimeout(r, 300));
    const d = await p.skiff(["deploy"]);
    await new Promise((r) => setTimeout(r, 1000));
    const res = await load.stop();
    assert.equal(d.code, 0, d.stderr);
    assert.notEqual(await faults.exec(m1!, "cat /run/skiff/haproxy.pid"), pidBefore, "HAProxy was reloaded");
    assert.equal(res.failures, 0, `${res.failures} of ${res.requests} failed: ${JSON.stringify(res.samples.slice(0, 5))}`);
    assert.ok(res.requests > 100);
    const users = (await faults.exec(m1!, "ps -o user= -C haproxy")).split("\n").map((x) => x.trim());
    assert.ok(users.every((u) => u === "haproxy"), users.join(", "));
  });
});
