// TCP apps in skiff.yml and in plans: `protocol: tcp` and `internal_port`, the
// contradictions refused with file:line:col, the release spec they make, and the
// plan lines that show their names coming, changing and going.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { checkConfig, loadProject } from "../../src/config/load.ts";
import { formatDiagnostic } from "../../src/errors.ts";
import { planDeploy } from "../../src/plan/deploy.ts";
import { planRemove } from "../../src/plan/remove.ts";
import { planRollback } from "../../src/plan/rollback.ts";
import { renderPlan } from "../../src/plan/render.ts";
import { deployed, empty, facts, release } from "./plan-fixtures.ts";

const base = `project: shop
machines:
  m1: { host: 10.0.0.1 }
  m2: { host: 10.0.0.2 }
apps:
`;
const lines = (apps: string) => checkConfig(base + apps, "skiff.yml").diagnostics.map(formatDiagnostic);

describe("config: TCP apps", () => {
  it("protocol tcp: the names serve on the app's port unless internal_port says another; no health path means a TCP connect", () => {
    const { project, diagnostics } = checkConfig(`${base}  db:\n    image: postgres:15\n    port: 5432\n    protocol: tcp\n  cache:\n    image: redis:7\n    port: 6379\n    protocol: tcp\n    internal_port: 7000\n    health: { path: /ready }\n`, "skiff.yml");
    assert.deepEqual(diagnostics, []);
    assert.equal(project!.apps.db!.protocol, "tcp");
    assert.equal(project!.apps.db!.internalPort, 5432);
    assert.equal(project!.apps.db!.health.path, undefined);
    assert.equal(project!.apps.cache!.internalPort, 7000);
    assert.equal(project!.apps.cache!.health.path, "/ready");
  });

  it("an HTTP app is as before: protocol http, no internal port, health path /healthz", () => {
    const { project } = checkConfig(`${base}  web:\n    image: nginx:1.27\n`, "skiff.yml");
    assert.equal(project!.apps.web!.protocol, "http");
    assert.equal(project!.apps.web!.internalPort, undefined);
    assert.equal(project!.apps.web!.health.path, "/healthz");
  });

  it("a TCP app with routes is refused at the routes key", () => {
    assert.deepEqual(lines(`  db:\n    image: postgres:15\n    protocol: tcp\n    port: 5432\n    routes: [{ path: / }]\n`), [
      'skiff.yml:10:5: app "db" speaks tcp and has public routes; routes are HTTP (host and path) (remove "routes": other apps reach it at db.internal:5432)',
    ]);
  });

  it("internal_port on an HTTP app is refused at its key", () => {
    assert.deepEqual(lines(`  web:\n    image: nginx:1.27\n    internal_port: 8080\n`), [
      'skiff.yml:8:5: "internal_port" is for TCP apps; app "web" speaks http (its name is http://web.internal/ on port 80) (add protocol: tcp, or remove "internal_port")',
    ]);
  });

  it("two TCP apps of the project on one port are refused, naming both", () => {
    const out = lines(`  a:\n    image: x\n    protocol: tcp\n    internal_port: 9000\n  b:\n    image: y\n    port: 9000\n    protocol: tcp\n`);
    assert.deepEqual(out, ['skiff.yml:13:5: TCP apps "a" and "b" both serve their internal names on port 9000 (give one of them another internal_port: every machine of the project serves each of its TCP apps on a port of its own)']);
  });

  it("internal_port 80 is refused (the HTTP names' port on the same addresses); a wrong protocol gets the choices", () => {
    const out = lines(`  db:\n    image: x\n    protocol: tcp\n    internal_port: 80\n  q:\n    image: y\n    protocol: udp\n`);
    assert.equal(out.length, 2);
    assert.match(out[0]!, /^skiff\.yml:9:20: apps\.db\.internal_port: must not be 80: HTTP internal names use port 80/);
    assert.match(out[1]!, /^skiff\.yml:12:15: apps\.q\.protocol: .*"http".*"tcp"/);
  });
});

function tcpProject(port: number, protocol = "tcp") {
  const dir = mkdtempSync(join(tmpdir(), "skiff-tcp-plan-"));
  writeFileSync(join(dir, "skiff.yml"), `${base}  web:\n    image: nginx:1.27\n    port: 6379\n    instances: 2\n    protocol: ${protocol}\n${protocol === "tcp" ? `    internal_port: ${port}\n` : ""}    secrets: [DB_PASSWORD]\n`);
  return loadProject({ file: join(dir, "skiff.yml") });
}

describe("plan: internal names", () => {
  it("a new TCP app: its name and port, and the spec carries protocol and internalPort", () => {
    const p = tcpProject(6379);
    const plan = planDeploy(p, empty(), { apps: [], ...facts() });
    assert.deepEqual(plan.apps[0]!.names, [{ change: "add", name: "web.internal:6379", also: "web.shop.internal:6379", protocol: "tcp" }]);
    assert.ok(renderPlan(plan).includes("  + name web.internal:6379 (tcp; also web.shop.internal:6379)"), renderPlan(plan).join("\n"));
    const spec = release(p, facts(), 1);
    assert.equal(spec.protocol, "tcp");
    assert.equal(spec.internalPort, 6379);
  });

  it("an HTTP app's release carries no protocol field (releases stored before TCP apps stay identical)", () => {
    const spec = release(tcpProject(0, "http"), facts(), 1);
    assert.equal("protocol" in spec, false);
    assert.equal("internalPort" in spec, false);
  });

  it("a changed internal_port: a ~ line old → new, and the field in every machine's changes", () => {
    const o = deployed(empty(), release(tcpProject(6379), facts(), 3));
    const plan = planDeploy(tcpProject(6380), o, { apps: [], ...facts() });
    const text = renderPlan(plan);
    assert.ok(text.includes("  ~ name web.internal:6379 (tcp) → web.internal:6380 (tcp; also web.shop.internal:6380)"), text.join("\n"));
    assert.ok(text.includes("    internalPort: 6379 → 6380"), text.join("\n"));
  });

  it("an HTTP app that becomes TCP: the name changes protocol", () => {
    const o = deployed(empty(), release(tcpProject(0, "http"), facts(), 3));
    const text = renderPlan(planDeploy(tcpProject(6379), o, { apps: [], ...facts() }));
    assert.ok(text.includes("  ~ name web.internal (http) → web.internal:6379 (tcp; also web.shop.internal:6379)"), text.join("\n"));
    assert.ok(text.includes("    protocol: (none) → tcp"), text.join("\n"));
  });

  it("a rollback to a release on another port: the name goes back too", () => {
    const o = deployed(deployed(empty(), release(tcpProject(6379), facts(), 1)), release(tcpProject(6380), facts(), 2));
    const text = renderPlan(planRollback(tcpProject(6380), o, { apps: ["web"], to: 1 }));
    assert.ok(text.includes("  ~ name web.internal:6380 (tcp) → web.internal:6379 (tcp; also web.shop.internal:6379)"), text.join("\n"));
  });

  it("an unchanged app: no name lines", () => {
    const p = tcpProject(6379);
    const o = deployed(empty(), release(p, facts(), 3));
    const plan = planDeploy(p, o, { apps: [], ...facts() });
    assert.equal(plan.apps[0]!.names, undefined);
    assert.ok(!renderPlan(plan).some((l) => / name /.test(l)));
  });

  it("skiff remove: the names go away; an app on no machine takes none", () => {
    const p = tcpProject(6379);
    const o = deployed(empty(), release(p, facts(), 3));
    assert.ok(renderPlan(planRemove(p, o, { apps: ["web"] })).includes("  - name web.internal:6379 (tcp; also web.shop.internal:6379)"));
    assert.equal(planRemove(p, empty(), { apps: ["web"] }).apps[0]!.names, undefined);
    // `skiff remove` does not read the release specs: the config says what the names were.
    for (const m of o.machines) m.specs.web = {};
    assert.ok(renderPlan(planRemove(p, o, { apps: ["web"] })).includes("  - name web.internal:6379 (tcp; also web.shop.internal:6379)"));
  });
});
