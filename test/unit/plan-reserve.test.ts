// One plan that places several apps places each around the ones before it: two apps that each need most
// of a machine's memory go to different machines (deploy and scale), and three that do not fit are refused.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { loadProject } from "../../src/config/load.ts";
import type { LocalFacts } from "../../src/exec/plan.ts";
import { planDeploy, wantedSpec } from "../../src/plan/deploy.ts";
import type { Observed, ObservedMachine } from "../../src/plan/observed.ts";
import { planScale } from "../../src/plan/scale.ts";

const GiB = 2 ** 30;
const APPS = ["api", "worker", "batch"];

function project(apps: string[]) {
  const dir = mkdtempSync(join(tmpdir(), "skiff-reserve-"));
  const app = (n: string) => `  ${n}:\n    image: nginx:1.27\n    port: 80\n    instances: 1\n    resources: { memory: 3G }\n    routes: [{ host: ${n}.example.com, path: / }]\n`;
  writeFileSync(join(dir, "skiff.yml"), `project: shop\nmachines:\n  m1: { host: 10.0.0.1 }\n  m2: { host: 10.0.0.2 }\napps:\n${apps.map(app).join("")}`);
  return loadProject({ file: join(dir, "skiff.yml") });
}

const facts = (apps: string[]): LocalFacts => ({
  images: apps.map((app) => ({ app, runtime: "docker" as const, ref: "nginx:1.27", id: "sha256:" + "a".repeat(64), built: false })),
  secrets: Object.fromEntries(apps.map((a) => [a, {}])),
  files: Object.fromEntries(apps.map((a) => [a, []])),
  by: "ana@laptop",
  createdAt: "2026-01-01T00:00:00.000Z",
});

function machines(apps: string[]): Observed {
  const m = (machine: string): ObservedMachine => ({
    machine,
    capacity: { cpus: 4, memoryBytes: 4 * GiB, apps: [] },
    apps: Object.fromEntries(apps.map((a) => [a, { releases: [], active: null }])),
    specs: Object.fromEntries(apps.map((a) => [a, {}])),
  });
  return { machines: [m("m1"), m("m2")], unreachable: [] };
}

test("deploy: two apps that each fill most of a machine go to different machines", () => {
  const apps = APPS.slice(0, 2);
  const plan = planDeploy(project(apps), machines(apps), { ...facts(apps), apps: [] });
  const where = plan.apps.map((a) => Object.entries(a.placement).filter(([, n]) => n > 0).map(([m]) => m));
  assert.deepEqual(where.flat().sort(), ["m1", "m2"]);
});

test("deploy: a third such app does not fit and the plan says so", () => {
  assert.throws(() => planDeploy(project(APPS), machines(APPS), { ...facts(APPS), apps: [] }), /cannot place batch/);
});

test("scale: two apps scaled in one call are placed around each other", () => {
  const apps = APPS.slice(0, 2);
  const p = project(apps);
  const f = facts(apps);
  const o = machines(apps);
  // Both deployed with no instances yet (instances: 0 in effect), then scaled to one each.
  for (const [i, app] of apps.entries()) {
    const spec = { ...wantedSpec(p, p.apps[app]!, f.images[i]!, { m1: 0, m2: 0 }, { ...f, secrets: f.secrets, files: f.files }), release: 1, instances: 0 };
    for (const m of o.machines) {
      m.apps[app] = { releases: [1], active: 1 };
      m.specs[app]![1] = spec;
      m.capacity!.apps.push({ project: "shop", app, active: 1, limits: spec.limits, instances: 0 });
    }
  }
  const plan = planScale(p, o, { targets: apps.map((app) => ({ app, instances: 1 })), by: "ana@laptop", createdAt: "2026-01-01T00:00:00.000Z" });
  const where = plan.apps.map((a) => Object.entries(a.placement).filter(([, n]) => n > 0).map(([m]) => m));
  assert.deepEqual(where.flat().sort(), ["m1", "m2"]);
});
