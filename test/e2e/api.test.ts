// The typed API on 2 bed machines, in this process (no CLI): trust, setup
// (dry run, then for real), deploy with events, status and health, history,
// a dry-run deploy, scale, remove, typed errors (a bad config, a machine cut
// off), and both examples run through the API alone: the CI script rolls back
// after its smoke check fails and deploys when it passes; the scheduler places
// instances from the machines' live load.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { InternalError, isUnreachable, Skiff, UserError, type MachineState, type OpenOptions, type SkiffConfig, type SkiffEvent } from "../../src/api.ts";
import { faults, up, type Bed } from "../../testbed/bed.ts";
import { ciDeploy } from "../../examples/ci-deploy/ci-deploy.ts";
import { placeByLoad, scheduleByLoad } from "../../examples/custom-scheduler/scheduler.ts";
import { makeProject, type Project } from "./helpers.ts";

const HELLO_NODE = new URL("../../examples/hello-node", import.meta.url).pathname;
const PORT = 8093;
const USER = "api-e2e";

let bed: Bed;
let p: Project;
let open: OpenOptions;
let skiff: Skiff;
const events: SkiffEvent[] = [];
/** The first release deployed, serving v1. */
let v1 = 0;

interface AppOpts {
  version: string;
  greeting?: string;
}

/** The project as a config object; the same is written as skiff.yml for what opens from the file. */
function config(web: AppOpts, extra: SkiffConfig["apps"] = {}): SkiffConfig {
  const machines = Object.fromEntries(bed.machines.map((m) => [m.name, { host: "127.0.0.1", port: m.sshPort, private_address: m.address, http_port: PORT, ssh: { identity_file: bed.identityFile } }]));
  const app = (env: Record<string, string>) => ({ run: "node server.js", artifact: HELLO_NODE, env, routes: [{ path: "/" }], health: { interval: "200ms", deadline: "5s" }, deploy: { drain_timeout: "2s", stop_timeout: "2s", probation: "2s" } });
  return { project: "apitest", machines, apps: { web: app({ VERSION: web.version, GREETING: web.greeting ?? "hello" }), ...extra } } as SkiffConfig;
}
const writeConfig = (c: SkiffConfig) => writeFileSync(join(p.dir, "skiff.yml"), JSON.stringify(c, null, 2)); // JSON is YAML
const url = (m: Bed["machines"][number], path = "/") => `http://${m.address}:${PORT}${path}`;
const versions = () => Promise.all(bed.machines.map(async (m) => (await (await fetch(url(m, "/version"))).text()).trim()));
const webInstances = (st: MachineState[]) => Object.fromEntries(st.map((m) => [m.machine, isUnreachable(m) ? -1 : (m.apps.find((a) => a.app === "web")?.instances.filter((i) => i.running && i.healthy).length ?? 0)]));

describe("the API on the bed, in-process", { timeout: 600_000 }, () => {
  before(async () => {
    bed = await up({ count: 2, log: (s) => console.error(`bed: ${s}`) });
    p = makeProject();
    writeConfig(config({ version: "v1" }));
    // Host settings given in code, not read from this process's environment.
    open = { dir: p.dir, env: {}, settings: { socketDir: p.socketDir, user: USER } };
    skiff = await Skiff.open({ ...open, onEvent: (e) => events.push(e) });
  });
  after(async () => {
    await faults.reconnect(bed.machines[1]!).catch(() => {});
  });

  it("trusts the machines and sets them up: a dry run changes nothing, then setup leaves every machine ready", async () => {
    const trusted = await skiff.machines.trust({ yes: true });
    assert.deepEqual(trusted.map((t) => [t.machine, ["trusted", "already"].includes(t.result)]), [["m1", true], ["m2", true]]);
    const dry = await skiff.setup({ dryRun: true });
    assert.ok(dry.every((r) => r.dryRun && !r.error && !r.done.length), JSON.stringify(dry));
    const done = await skiff.setup();
    assert.ok(done.every((r) => !r.error && !r.problems.length), JSON.stringify(done));
    const check = await skiff.machines.check();
    assert.deepEqual(check.map((c) => [c.machine, c.reachable, c.ready]), [["m1", true, true], ["m2", true, true]]);
    // Leftovers of an earlier run of this suite go first.
    await skiff.remove(["web"]);
  });

  it("deploys, with step events to every listener; status shows it healthy; history records who", async () => {
    events.length = 0;
    const mine: SkiffEvent[] = [];
    const d = await skiff.deploy({ onEvent: (e) => mine.push(e) });
    assert.equal(d.ok, true, JSON.stringify(d.outcomes));
    assert.equal(d.dryRun, false);
    const release = d.outcomes[0]!.release;
    v1 = release;
    assert.deepEqual(await versions(), ["v1", "v1"]);
    assert.deepEqual(mine, events);
    for (const m of ["m1", "m2"]) assert.ok(events.some((e) => e.type === "step" && e.machine === m && e.status === "ok"), `no ok step from ${m}: ${JSON.stringify(events)}`);

    const { healthy, machines } = await skiff.waitHealthy({ app: "web", timeoutMs: 20_000 });
    assert.ok(healthy, JSON.stringify(machines));
    assert.deepEqual(machines.map((m) => !isUnreachable(m) && m.apps[0]!.active), [release, release]);

    const h = await skiff.history({ app: "web" });
    const row = h.rows.filter((r) => r.action === "deploy" && r.release === release).at(-1)!;
    assert.equal(row.by, USER);
    assert.deepEqual(Object.values(row.machines).map((x) => x.result), ["ok", "ok"]);
    assert.deepEqual(h.unreachable, []);
  });

  it("a dry-run deploy returns the plan and changes nothing", async () => {
    writeConfig(config({ version: "v9" }));
    const s = await Skiff.open(open);
    const d = await s.deploy({ dryRun: true });
    assert.equal(d.dryRun, true);
    assert.deepEqual(d.outcomes, []);
    assert.deepEqual(d.plan.apps.map((a) => a.app), ["web"]);
    assert.deepEqual(await versions(), ["v1", "v1"]);
  });

  it("examples/ci-deploy: a release whose smoke check fails is rolled back; one that passes stays", async () => {
    const before = (await skiff.status({ app: "web" })).map((m) => !isUnreachable(m) && m.apps[0]!.active);
    // Healthy (it answers /healthz) but wrong: the greeting the smoke check wants is misspelt.
    writeConfig(config({ version: "v2", greeting: "helo" }));
    const lines: string[] = [];
    const bad = await ciDeploy({ open, app: "web", smokeUrl: url(bed.machines[0]!, "/env/GREETING"), expect: "hello", log: (l) => lines.push(l) });
    assert.equal(bad.result, "smoke-failed", lines.join("\n"));
    assert.equal(bad.rolledBackTo, before[0], lines.join("\n"));
    assert.deepEqual(await versions(), ["v1", "v1"]);
    const h = await skiff.history({ app: "web" });
    assert.ok(h.rows.some((r) => r.action === "rollback" && r.release === before[0]), JSON.stringify(h.rows.slice(-3)));

    writeConfig(config({ version: "v3" }));
    const good = await ciDeploy({ open, app: "web", smokeUrl: url(bed.machines[1]!, "/env/GREETING"), expect: "hello", log: (l) => lines.push(l) });
    assert.equal(good.result, "deployed", lines.join("\n"));
    assert.deepEqual(await versions(), ["v3", "v3"]);
  });

  it("rolls back and scales through the API", async () => {
    const s = await Skiff.open(open);
    // (Without `to`, skiff would pick v2: its rollout succeeded; the smoke check that failed was the CI script's.)
    const back = await s.rollback({ apps: ["web"], to: v1 });
    assert.equal(back.ok, true, JSON.stringify(back.outcomes));
    assert.deepEqual(back.outcomes.map((o) => o.to), [v1]);
    assert.deepEqual(await versions(), ["v1", "v1"]);
    const scaled = await s.scale({ web: 3 });
    assert.equal(scaled.ok, true, JSON.stringify(scaled.outcomes));
    const placement = scaled.outcomes[0]!.placement;
    assert.equal(Object.values(placement).reduce((a, b) => a + b, 0), 3);
    assert.deepEqual(webInstances(await s.status({ app: "web" })), placement);
  });

  it("examples/custom-scheduler: instances go where the live load is lowest", async () => {
    // Load on m1: an app of two instances pinned there. From a clean slate, so the load it adds is known.
    const busy = { run: "node server.js", artifact: HELLO_NODE, machines: ["m1"], instances: 2, env: { VERSION: "busy" }, routes: [{ path: "/busy" }], health: { interval: "200ms", deadline: "5s" } };
    const s = await Skiff.open({ ...open, config: config({ version: "v1" }, { busy }) });
    await s.remove(["web", "busy"]);
    const baseline = await s.machines.load("web"); // what other projects on the bed run
    const d = await s.deploy();
    assert.equal(d.ok, true, JSON.stringify(d.outcomes));
    assert.ok((await s.waitHealthy({ timeoutMs: 20_000 })).healthy);

    const { load, result } = await scheduleByLoad({ config: config({ version: "v1" }, { busy }), open, app: "web", instances: 3 });
    // The scheduler read the live load: busy's two instances on m1, nothing more on m2 (web's own do not count) …
    const seen = (m: string, l: { machine: string; instances: number }[]) => l.find((x) => x.machine === m)!.instances;
    assert.deepEqual([seen("m1", load) - seen("m1", baseline), seen("m2", load) - seen("m2", baseline)], [2, 0], JSON.stringify({ load, baseline }));
    // … placed by its rule from what it read, and skiff ran exactly that.
    assert.equal(result.ok, true, JSON.stringify(result.outcomes));
    const placement = result.outcomes[0]!.placement;
    const caps = baseline.map((l) => ({ name: l.machine, labels: l.labels, cpus: l.cpus, memoryBytes: l.memoryBytes, reserved: l.reserved }));
    assert.deepEqual(placement, placeByLoad({ app: "web", instances: 3, machines: caps, resources: {} }, load));
    if (seen("m1", baseline) === seen("m2", baseline)) assert.ok(placement.m2! > placement.m1!, JSON.stringify({ placement, load }));
    assert.deepEqual(webInstances(await s.status({ app: "web" })), placement);
    const removed = await s.remove(["busy"]);
    assert.deepEqual(removed.removed.map((r) => [r.app, r.machines.find((m) => m.machine === "m1")?.removed]), [["busy", 2]]);
  });

  it("a bad config is a UserError with file:line:col", async () => {
    const dir = mkdtempSync(join(tmpdir(), "skiff-api-bad-"));
    writeFileSync(join(dir, "skiff.yml"), "project: apitest\nmachines:\n  m1: { host: 127.0.0.1 }\napps:\n  web:\n    run: node server.js\n    instances: many\n");
    const e = await Skiff.open({ dir, env: {} }).catch((x: unknown) => x);
    assert.ok(e instanceof UserError, String(e));
    assert.deepEqual([e.diagnostics[0]?.file, e.diagnostics[0]?.line, e.diagnostics[0]?.col], [join(dir, "skiff.yml"), 7, 16]);
  });

  it("a machine cut off: status says unreachable for it alone, and a deploy fails with a UserError naming it", async () => {
    const m2 = bed.machines[1]!;
    await faults.disconnect(m2);
    try {
      const st = await skiff.status();
      const cut = st.find((m) => m.machine === "m2")!;
      assert.ok(isUnreachable(cut), JSON.stringify(cut));
      assert.match(cut.problem, /unreachable/);
      assert.ok(!isUnreachable(st.find((m) => m.machine === "m1")!));
      const e = await skiff.deploy().catch((x: unknown) => x);
      assert.ok(e instanceof UserError && !(e instanceof InternalError), String(e));
      assert.match(e.message, /m2/);
    } finally {
      await faults.reconnect(m2);
    }
    const locks = await skiff.lock.status();
    assert.deepEqual(locks.map((l) => [l.machine, l.ok && l.lock]), [["m1", null], ["m2", null]]);
    await skiff.remove(["web"]);
  });
});
