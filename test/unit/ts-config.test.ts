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
});
