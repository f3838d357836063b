// The API without machines: opening a project (a file, a config object, an
// environment), the typed errors a bad one gives, host settings per Skiff,
// events fanned out to listeners, and the custom scheduler's placement rule.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { InternalError, RemoteError, Skiff, typedError, UserError, type SkiffConfig, type SkiffEvent } from "../../src/api.ts";
import { EventHub } from "../../src/api/events.ts";
import { whoAmI } from "../../src/exec/lock.ts";
import { hostSettings, withHostSettings } from "../../src/settings.ts";
import { placeByLoad } from "../../examples/custom-scheduler/scheduler.ts";

const base: SkiffConfig = { project: "shop", machines: { m1: { host: "10.0.0.1" }, m2: { host: "10.0.0.2" } }, apps: { web: { image: "nginx:1", port: 80 } }, environments: { staging: { machines: { m1: { host: "10.9.0.1" } } } } };

describe("Skiff.open", () => {
  it("from a config object: checked like a file, relative paths from `dir`, place kept as a function", async () => {
    const dir = mkdtempSync(join(tmpdir(), "skiff-api-"));
    const place = () => ({ m1: 1 });
    const s = await Skiff.open({ config: { ...base, apps: { web: { build: { context: "app" }, port: 80, place } } }, dir, env: {} });
    assert.equal(s.project.name, "shop");
    assert.equal(s.project.dir, dir);
    assert.equal(s.project.apps.web!.build!.context, join(dir, "app"));
    assert.equal(s.project.apps.web!.place, place);
    assert.deepEqual(await s.validate(), { ok: true, project: "shop", environment: null, machines: ["m1", "m2"], apps: ["web"] });
  });

  it("with an environment, from a file found in `dir`", async () => {
    const dir = mkdtempSync(join(tmpdir(), "skiff-api-"));
    writeFileSync(join(dir, "skiff.yml"), "project: shop\nmachines:\n  m1: { host: 10.0.0.1 }\napps:\n  web: { image: nginx, port: 80 }\nenvironments:\n  staging:\n    machines:\n      m1: { host: 10.9.0.1 }\n");
    const s = await Skiff.open({ dir, environment: "staging", env: {} });
    assert.equal(s.project.machines.m1!.host, "10.9.0.1");
    assert.equal((await s.validate()).environment, "staging");
  });

  it("a bad file is a UserError with file:line:col for each problem, exit code 2", async () => {
    const dir = mkdtempSync(join(tmpdir(), "skiff-api-"));
    writeFileSync(join(dir, "skiff.yml"), "project: shop\nmachines:\n  m1: { host: 10.0.0.1 }\napps:\n  web:\n    image: nginx\n    port: eighty\n");
    const e = await Skiff.open({ dir, env: {} }).then(() => assert.fail("opened"), (x: unknown) => x);
    assert.ok(e instanceof UserError && !(e instanceof RemoteError));
    assert.equal(e.exitCode, 2);
    assert.equal(e.diagnostics.length, 1);
    const d = e.diagnostics[0]!;
    assert.deepEqual([d.file, d.line, d.col], [join(dir, "skiff.yml"), 7, 11]);
    assert.match(d.message, /port/);
  });

  it("a bad object is a UserError naming the key; an unknown environment says which exist", async () => {
    const e = await Skiff.open({ config: { ...base, apps: { web: { image: "nginx", port: "eighty" as never } } }, env: {} }).catch((x: unknown) => x);
    assert.ok(e instanceof UserError);
    assert.match(e.diagnostics[0]!.message, /apps\.web\.port/);
    assert.equal(e.diagnostics[0]!.file, "config object");
    const env = await Skiff.open({ config: base, environment: "prod", env: {} }).catch((x: unknown) => x);
    assert.ok(env instanceof UserError);
    assert.match(env.diagnostics[0]!.message, /environment "prod" is not defined \(defined: staging\)/);
  });
});

describe("host settings", () => {
  it("are read from `env` once at open, code's settings win, and each call runs with its Skiff's", () => {
    assert.equal(withHostSettings({ user: "ci-bot" }, () => whoAmI()), "ci-bot");
    // Outside a call, the environment as it is now (the CLI's own commands).
    const before = process.env.SKIFF_USER;
    process.env.SKIFF_USER = "from-env";
    try {
      assert.equal(whoAmI(), "from-env");
      assert.equal(withHostSettings({ docker: "podman" }, () => hostSettings().user), undefined);
    } finally {
      if (before === undefined) delete process.env.SKIFF_USER;
      else process.env.SKIFF_USER = before;
    }
  });

  it("two Skiffs in one process keep their own", async () => {
    const a = await Skiff.open({ config: base, env: { SKIFF_USER: "team-a" } });
    const b = await Skiff.open({ config: base, env: { SKIFF_USER: "team-a" }, settings: { user: "team-b" } });
    // validate() runs inside the Skiff's call context like every method; whoAmI is what deploy records.
    const seen: string[] = [];
    const probe = (s: Skiff) => (s as unknown as { run<T>(fn: () => Promise<T>): Promise<T> }).run(async () => void seen.push(whoAmI()));
    await Promise.all([probe(a), probe(b)]);
    assert.deepEqual(seen.sort(), ["team-a", "team-b"]);
  });
});

describe("errors and events", () => {
  it("typedError keeps UserErrors and wraps anything else as an InternalError with the cause", () => {
    const u = new UserError("bad", { hint: "h" });
    assert.equal(typedError(u), u);
    const bug = new TypeError("x is undefined");
    const w = typedError(bug);
    assert.ok(w instanceof InternalError && !(w instanceof UserError));
    assert.equal(w.cause, bug);
    assert.equal(w.exitCode, 70);
    assert.match(w.message, /bug.*x is undefined/);
  });

  it("every listener gets every event; one that throws does not stop the others", () => {
    const hub = new EventHub();
    const got: SkiffEvent[] = [];
    const mine: SkiffEvent[] = [];
    hub.add(() => {
      throw new Error("listener bug");
    });
    const off = hub.add((e) => got.push(e));
    const r = hub.reporter((e) => mine.push(e));
    const step: SkiffEvent = { type: "step", machine: "m1", step: "web: activate", status: "ok", ms: 5 };
    r.emit(step);
    off();
    r.emit({ type: "note", message: "after" });
    assert.deepEqual(got, [step]);
    assert.deepEqual(mine, [step, { type: "note", message: "after" }]);
  });
});

describe("the custom scheduler's rule (examples/custom-scheduler)", () => {
  const machine = (name: string) => ({ name, labels: [], cpus: 2, memoryBytes: 4e9, reserved: { cpus: 0, memoryBytes: 0 } });
  const ctx = (instances: number) => ({ app: "web", instances, machines: [machine("m1"), machine("m2"), machine("m3")], resources: {} });
  it("fills the least loaded machines first, counting what it just placed", () => {
    const load = [{ machine: "m1", instances: 2, memAvailKb: 1000 }, { machine: "m2", instances: 0, memAvailKb: 1000 }, { machine: "m3", instances: 1, memAvailKb: 1000 }];
    assert.deepEqual(placeByLoad(ctx(3), load), { m1: 0, m2: 2, m3: 1 });
    assert.deepEqual(placeByLoad(ctx(6), load), { m1: 1, m2: 3, m3: 2 });
  });
  it("among equals, more free memory wins, then the name", () => {
    const load = [{ machine: "m1", instances: 0, memAvailKb: 10 }, { machine: "m2", instances: 0, memAvailKb: 20 }, { machine: "m3", instances: 0, memAvailKb: 10 }];
    assert.deepEqual(placeByLoad(ctx(2), load), { m1: 1, m2: 1, m3: 0 });
    assert.deepEqual(placeByLoad(ctx(1), load), { m1: 0, m2: 1, m3: 0 });
  });
});
