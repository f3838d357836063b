// skiff.config.ts: loaded through esbuild, checked by the same schema and rules
// as skiff.yml (problems by path), with a placement function kept aside; and
// typed: tsc rejects a misspelt key against the published types.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { loadProject } from "../../src/config/load.ts";
import { UserError } from "../../src/errors.ts";
import { skiff, stackLines } from "./cli-fresh.ts";

const ROOT = new URL("../..", import.meta.url).pathname;

const config = (app: string) => `import { defineConfig } from "skiff";
export default defineConfig({
  project: "shop",
  machines: { m1: { host: "10.0.0.1", labels: ["web"] }, m2: { host: "10.0.0.2" } },
  apps: {
    web: {
      ${app}
    },
  },
});
`;

function project(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), "skiff-tsconfig-"));
  writeFileSync(join(dir, "skiff.config.ts"), text);
  return join(dir, "skiff.config.ts");
}

describe("skiff.config.ts", () => {
  it("loads like skiff.yml, and keeps a placement function", () => {
    const file = project(config(`run: "node server.js", instances: 3, place: ({ machines, instances }) => ({ [machines[0]!.name]: instances })`));
    const p = loadProject({ file });
    assert.equal(p.name, "shop");
    assert.equal(p.apps.web!.instances, 3);
    assert.equal(typeof p.apps.web!.place, "function");
    assert.deepEqual(p.apps.web!.place!({ app: "web", instances: 3, machines: [{ name: "m2", labels: [], cpus: 2, memoryBytes: 1, reserved: { cpus: 0, memoryBytes: 0 } }], resources: {} }), { m2: 3 });
  });

  it("reports problems by path, every one at once (exit 2)", () => {
    const file = project(config(`run: "node server.js", instances: -1, port: 0`));
    try {
      loadProject({ file });
      assert.fail("should not load");
    } catch (e) {
      assert.ok(e instanceof UserError);
      assert.equal(e.exitCode, 2);
      assert.deepEqual(e.diagnostics.map((d) => `${d.line}: ${d.message}`).sort(), ["0: apps.web.instances: must be at least 0", "0: apps.web.port: must be at least 1"]);
    }
  });

  it("a syntax error points at its line", () => {
    const file = project(`export default {\n  project: "x",,\n};\n`);
    assert.throws(() => loadProject({ file }), (e: unknown) => e instanceof UserError && e.diagnostics[0]!.line === 2);
  });

  it("is typed: tsc accepts a good config and rejects a misspelt key", () => {
    assert.ok(existsSync(join(ROOT, "dist/types/api.d.ts")), "dist/types/api.d.ts is missing: `npm test` builds it first");
    const dir = mkdtempSync(join(tmpdir(), "skiff-tstypes-"));
    writeFileSync(join(dir, "good.ts"), config(`run: "node server.js", instances: 2, place: ({ machines }) => ({ [machines[0]!.name]: 2 })`));
    writeFileSync(join(dir, "bad.ts"), config(`run: "node server.js", instanses: 2`));
    writeFileSync(
      join(dir, "tsconfig.json"),
      JSON.stringify({ compilerOptions: { strict: true, noEmit: true, module: "NodeNext", moduleResolution: "NodeNext", skipLibCheck: true, noUncheckedIndexedAccess: true, baseUrl: ".", paths: { skiff: [join(ROOT, "dist/types/api.d.ts")] }, typeRoots: [join(ROOT, "node_modules/@types")] }, files: ["good.ts", "bad.ts"] }),
    );
    const r = spawnSync(process.execPath, [join(ROOT, "node_modules/typescript/bin/tsc"), "-p", dir], { encoding: "utf8" });
    const errors = r.stdout.split("\n").filter((l) => l.includes("error TS"));
    assert.equal(errors.length, 1, r.stdout);
    assert.match(errors[0]!, /bad\.ts\(7,\d+\): error TS2561: Object literal may only specify known properties, but 'instanses' does not exist in type 'AppConfig'\. Did you mean to write 'instances'\?/);
  });

  it("a throwing getter is a clear problem (exit 2), not a stack trace", () => {
    const file = project(config(`run: "node server.js", get port(): number { throw new Error("no port today"); }`));
    assert.throws(
      () => loadProject({ file }),
      (e: unknown) => e instanceof UserError && e.exitCode === 2 && /apps\.web\.port.*no port today/.test(e.message + e.diagnostics.map((d) => d.message).join()),
    );
  });

  it("a value that is not data (a class instance, a function, a symbol) is a problem by path", () => {
    const file = project(config(`run: "node server.js", env: { WHEN: new Date(0) as never, F: (() => 1) as never }`));
    assert.throws(
      () => loadProject({ file }),
      (e: unknown) => e instanceof UserError && e.exitCode === 2 && /apps\.web\.env\.(WHEN|F)/.test(e.message + e.diagnostics.map((d) => d.message).join()),
    );
  });

  it("the CLI: an endless loop is cut off, process.exit(0) is not a pass, a throw is not a stack trace (exit 2 each)", () => {
    const cases: [string, string, RegExp][] = [
      ["loop", `for (;;) {}\nexport default {};\n`, /did not finish within 2(\.0)? ?s/],
      ["exit", `process.exit(0);\nexport default {};\n`, /ended the process/],
      ["throw", `throw new TypeError("boom");\n`, /running it failed: TypeError: boom/],
      ["getter", config(`run: "x", get port(): number { throw new Error("no port"); }`), /no port/],
      ["envs", `export default { project: "p", machines: { a: { host: "x" } }, apps: { web: { image: "x", machines: ["a"] } }, environments: { staging: { machines: { s1: { host: "y" } } } } };\n`, /environment staging/],
    ];
    for (const [name, text, want] of cases) {
      const file = project(text);
      const t0 = Date.now();
      const r = skiff(["validate", "-c", file], { env: { SKIFF_CONFIG_TS_TIMEOUT_MS: "2000" }, timeoutMs: 20_000 });
      assert.equal(r.signal, null, `${name}: validate hung (killed after ${Date.now() - t0} ms)`);
      assert.deepEqual(stackLines(r.stderr + r.stdout), [], `${name}: ${r.stderr}`);
      assert.equal(r.status, 2, `${name}: exit ${r.status}\n${r.stdout}${r.stderr}`);
      assert.match(r.stderr, want, name);
    }
  });

  it("a placement function runs apart: one that never returns is cut off, one that throws says so", () => {
    const file = project(config(`run: "node server.js", instances: 1, place: ({ machines }) => { if (machines.length > 1) for (;;) {} ; if (machines.length === 0) throw new Error("nowhere"); return { m1: 1 }; }`));
    process.env.SKIFF_CONFIG_TS_TIMEOUT_MS = "1500";
    try {
      const p = loadProject({ file });
      const m = (name: string) => ({ name, labels: [], cpus: 2, memoryBytes: 1, reserved: { cpus: 0, memoryBytes: 0 } });
      assert.deepEqual(p.apps.web!.place!({ app: "web", instances: 1, machines: [m("m1")], resources: {} }), { m1: 1 });
      assert.throws(() => p.apps.web!.place!({ app: "web", instances: 1, machines: [], resources: {} }), /nowhere/);
      assert.throws(() => p.apps.web!.place!({ app: "web", instances: 1, machines: [m("m1"), m("m2")], resources: {} }), /did not finish within 1\.5 ?s/);
    } finally {
      delete process.env.SKIFF_CONFIG_TS_TIMEOUT_MS;
    }
  });
});
