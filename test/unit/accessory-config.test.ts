// Accessories in skiff.yml and in plans: one instance pinned to its machine, tcp by default, replaced stop-first;
// mistakes named with file:line:col; the plan says when a deploy would restart or move one.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { checkConfig, loadProject } from "../../src/config/load.ts";
import { formatDiagnostic } from "../../src/errors.ts";
import { accessoryStops, planDeploy } from "../../src/plan/deploy.ts";
import { renderPlan } from "../../src/plan/render.ts";
import { selectApps } from "../../src/plan/release-spec.ts";
import { deployed, empty, facts, release } from "./plan-fixtures.ts";

const base = `project: shop
machines:
  m1: { host: 10.0.0.1 }
  m2: { host: 10.0.0.2 }
env: { LOG_LEVEL: info }
`;
const lines = (text: string, env?: string) => checkConfig(base + text, "skiff.yml", env).diagnostics.map(formatDiagnostic);

function accessoryProject(machine = "m1", env = "one") {
  const dir = mkdtempSync(join(tmpdir(), "skiff-acc-"));
  writeFileSync(join(dir, "skiff.yml"), `${base}accessories:\n  web:\n    machine: ${machine}\n    image: nginx:1.27\n    port: 5432\n    env: { MODE: ${env} }\n    secrets: [DB_PASSWORD]\n`);
  return loadProject({ file: join(dir, "skiff.yml") });
}

describe("config: accessories", () => {
  it("one instance pinned to its machine, tcp on its port, stop-first (no drain, no probation), without the project's env", () => {
    const { project, diagnostics } = checkConfig(`${base}apps:\n  api: { image: api:1 }\naccessories:\n  db:\n    machine: m2\n    run: postgres -D data\n    port: 5432\n    volumes: { data: data }\n`, "skiff.yml");
    assert.deepEqual(diagnostics, []);
    const db = project!.apps.db!;
    assert.deepEqual(Object.keys(project!.apps), ["db", "api"], "accessories come first: a deploy of everything starts them before the apps");
    assert.deepEqual(db.accessory, { machine: "m2" });
    assert.equal(db.instances, 1);
    assert.deepEqual(db.placement.machines, ["m2"]);
    assert.equal(db.protocol, "tcp");
    assert.equal(db.internalPort, 5432);
    assert.equal(db.health.path, undefined, "a TCP connect");
    assert.deepEqual(db.env, {}, "the project's env is the apps'");
    assert.equal(project!.apps.api!.env.LOG_LEVEL, "info");
    assert.equal(db.deploy.drainMs, 0);
    assert.equal(db.deploy.probationMs, 0);
    assert.equal(db.deploy.stopTimeoutS, 30);
    assert.equal(db.deploy.keepWarm, false);
  });

  it("its release says stop-first; an app's does not", () => {
    assert.equal(release(accessoryProject(), facts(), 1, { m1: 1 }).stopFirst, true);
    const { project } = checkConfig(`${base}apps:\n  web: { image: nginx:1.27, secrets: [DB_PASSWORD] }\n`, "skiff.yml");
    assert.equal("stopFirst" in release(project!, facts(), 1), false);
  });

  it("mistakes point at the line: an unknown machine (with a guess), a name both an app and an accessory, no source", () => {
    const out = lines(`apps:\n  db: { image: a:1 }\naccessories:\n  db:\n    machine: m3\n    image: postgres:15\n  cache:\n    machine: m1\n    port: 6379\n`);
    assert.equal(out.length, 3, out.join("\n"));
    assert.match(out.find((l) => l.includes("both"))!, /^skiff\.yml:9:3: .*"db" is both an app and an accessory/);
    assert.match(out.find((l) => l.includes("m3"))!, /^skiff\.yml:10:14: .*accessory "db" names machine "m3", which is not defined under machines[\s\S]*did you mean "m1"\?/);
    assert.match(out.find((l) => l.includes("cache"))!, /^skiff\.yml:13:5: .*accessory "cache" needs "image", "build" or "run"/);
  });

  it("no instances, routes or deploy settings: an accessory is not spread or rolled", () => {
    const out = lines(`accessories:\n  db:\n    machine: m1\n    image: postgres:15\n    instances: 2\n    routes: [{ path: / }]\n`);
    assert.equal(out.length, 2, out.join("\n"));
    assert.ok(out.every((l) => /unknown key|not allowed|Unrecognized/i.test(l)), out.join("\n"));
  });

  it("an environment moves it or changes it; an override of an accessory that does not exist is named", () => {
    const text = `accessories:\n  db: { machine: m1, image: "postgres:15", env: { A: "1" } }\nenvironments:\n  staging:\n    accessories:\n      db: { machine: m2, env: { B: "2" } }\n      dbx: { image: x }\n`;
    const out = lines(text, "staging");
    assert.equal(out.length, 1, out.join("\n"));
    assert.match(out[0]!, /^skiff\.yml:12:7: .*environment "staging" overrides accessory "dbx", which is not defined under accessories[\s\S]*did you mean "db"\?/);
    const { project } = checkConfig(base + text.replace(/      dbx.*\n/, ""), "skiff.yml", "staging");
    assert.deepEqual(project!.apps.db!.accessory, { machine: "m2" });
    assert.deepEqual(project!.apps.db!.env, { A: "1", B: "2" });
  });

  it("TCP ports are one per name across apps and accessories", () => {
    const out = lines(`apps:\n  cache: { image: redis:7, port: 6379, protocol: tcp }\naccessories:\n  db: { machine: m1, image: redis:7, port: 6379 }\n`);
    assert.equal(out.length, 1, out.join("\n"));
    assert.match(out[0]!, /TCP app "cache" and accessory "db" both serve their internal names on port 6379/);
  });
});

describe("plan: accessories", () => {
  it("a first start stops nothing: no --yes needed", () => {
    const plan = planDeploy(accessoryProject(), empty(), { apps: [], ...facts() });
    assert.deepEqual(plan.apps[0]!.accessory, { machine: "m1", restarts: false });
    assert.deepEqual(plan.apps[0]!.placement, { m1: 1 });
    assert.deepEqual(accessoryStops(plan), []);
    assert.equal(renderPlan(plan)[0], "web (accessory on m1)");
  });

  it("a changed accessory restarts: the plan says so, and what the deploy asks for", () => {
    const o = deployed(empty(), release(accessoryProject("m1", "one"), facts(), 1, { m1: 1 }));
    const plan = planDeploy(accessoryProject("m1", "two"), o, { apps: [], ...facts() });
    assert.deepEqual(plan.apps[0]!.accessory, { machine: "m1", restarts: true });
    assert.deepEqual(accessoryStops(plan), ["web restarts on m1"]);
    const text = renderPlan(plan);
    assert.ok(text.includes("  restarts: the running one stops, then the new release starts on the same volumes; web.internal refuses connections meanwhile; deploy asks for --yes"), text.join("\n"));
  });

  it("an unchanged accessory: nothing restarts", () => {
    const o = deployed(empty(), release(accessoryProject(), facts(), 1, { m1: 1 }));
    const plan = planDeploy(accessoryProject(), o, { apps: [], ...facts() });
    assert.deepEqual(accessoryStops(plan), []);
  });

  it("an accessory given another machine moves: its volumes stay behind, said before --yes", () => {
    const o = deployed(empty(), release(accessoryProject("m1"), facts(), 1, { m1: 1 }));
    const plan = planDeploy(accessoryProject("m2"), o, { apps: [], ...facts() });
    assert.deepEqual(plan.apps[0]!.accessory, { machine: "m2", restarts: true, movesFrom: ["m1"] });
    assert.deepEqual(accessoryStops(plan), ["web moves from m1 to m2 (its volumes stay behind)"]);
    assert.ok(renderPlan(plan).some((l) => l.startsWith("  moves from m1 to m2: it stops there and starts on m2 with new, empty volumes")));
  });

  it("with backups, a move takes the data along: the plan says so", () => {
    const withBackups = (machine: string) => {
      const dir = mkdtempSync(join(tmpdir(), "skiff-acc-"));
      writeFileSync(join(dir, "skiff.yml"), `${base}accessories:\n  web:\n    machine: ${machine}\n    image: nginx:1.27\n    port: 5432\n    env: { MODE: one }\n    secrets: [DB_PASSWORD]\n    backups: { kind: postgres, to: /srv/b }\n`);
      return loadProject({ file: join(dir, "skiff.yml") });
    };
    const o = deployed(empty(), release(withBackups("m1"), facts(), 1, { m1: 1 }));
    const plan = planDeploy(withBackups("m2"), o, { apps: [], ...facts() });
    assert.deepEqual(plan.apps[0]!.accessory, { machine: "m2", restarts: true, movesFrom: ["m1"], dataFollows: "postgres" });
    // Its machine goes first, alone: where it ran changes only once it serves on m2.
    assert.deepEqual(plan.apps[0]!.batches, [["m2"], ["m1"]]);
    assert.deepEqual(accessoryStops(plan), ["web moves from m1 to m2 (its data follows through a backup and a restore)"]);
    assert.ok(renderPlan(plan).includes("  moves from m1 to m2: web.internal refuses connections from a last backup on m1 (it stops there after it) until it serves on m2 with that backup restored; no write is lost; deploy asks for --yes"), renderPlan(plan).join("\n"));
  });

  it("restart and rollback of everything leave the accessories be; named, they go", () => {
    const { project } = checkConfig(`${base}apps:\n  api: { image: api:1 }\naccessories:\n  db: { machine: m1, image: "postgres:15" }\n`, "skiff.yml");
    assert.deepEqual(selectApps(project!, [], { appsOnly: true }).map((a) => a.name), ["api"]);
    assert.deepEqual(selectApps(project!, []).map((a) => a.name), ["db", "api"]);
    assert.deepEqual(selectApps(project!, ["db"], { appsOnly: true }).map((a) => a.name), ["db"]);
  });
});
