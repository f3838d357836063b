// skiff.config.ts: loaded through esbuild, checked by the same schema and rules
// as skiff.yml (problems by path), with a placement function kept aside; and
// typed: tsc rejects a misspelt key against the published types.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
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

  // Only the cases that must be cut off get a short deadline: the others must finish, and on a loaded
  // 2-core CI box one CLI run alone took ~1.3 s; they keep the default (10 s).
  it("the CLI: an endless loop (or an import of a FIFO) is cut off; process.exit(0) is not a pass; a throw is not a stack trace (exit 2 each)", () => {
    const fifoDir = mkdtempSync(join(tmpdir(), "skiff-tsconfig-fifo-"));
    execFileSync("mkfifo", [join(fifoDir, "pipe.txt")]);
    writeFileSync(join(fifoDir, "skiff.config.ts"), `import text from "./pipe.txt";\nexport default { project: text };\n`);
    const cases: [string, string, RegExp, string | undefined][] = [
      ["loop", `for (;;) {}\nexport default {};\n`, /did not finish within 2(\.0)? ?s[^]*hint: .*SKIFF_CONFIG_TS_TIMEOUT_MS/, "2000"],
      ["fifo", join(fifoDir, "skiff.config.ts"), /pipe\.txt.*not a regular file/, "2000"],
      ["exit", `process.exit(0);\nexport default {};\n`, /ended the process/, undefined],
      ["throw", `throw new TypeError("boom");\n`, /running it failed: TypeError: boom/, undefined],
      ["getter", config(`run: "x", get port(): number { throw new Error("no port"); }`), /no port/, undefined],
      ["envs", `export default { project: "p", machines: { a: { host: "x" } }, apps: { web: { image: "x", machines: ["a"] } }, environments: { staging: { machines: { s1: { host: "y" } } } } };\n`, /environment staging/, undefined],
    ];
    for (const [name, text, want, deadline] of cases) {
      const file = name === "fifo" ? text : project(text);
      const t0 = Date.now();
      const r = skiff(["validate", "-c", file], { env: { SKIFF_CONFIG_TS_TIMEOUT_MS: deadline }, timeoutMs: 30_000 });
      assert.equal(r.signal, null, `${name}: validate hung (killed after ${Date.now() - t0} ms)`);
      assert.deepEqual(stackLines(r.stderr + r.stdout), [], `${name}: ${r.stderr}`);
      assert.equal(r.status, 2, `${name}: exit ${r.status}\n${r.stdout}${r.stderr}`);
      assert.match(r.stderr, want, name);
    }
  });

  it("a SKIFF_CONFIG_TS_TIMEOUT_MS that is not a number of milliseconds is an error, not a silent 10 s", () => {
    const file = project(config(`run: "node server.js"`));
    for (const bad of ["abc", "0", "-5", "1.5s", "Infinity", "99999999999"]) {
      process.env.SKIFF_CONFIG_TS_TIMEOUT_MS = bad;
      try {
        assert.throws(() => loadProject({ file }), (e: unknown) => e instanceof UserError && e.message.includes(`SKIFF_CONFIG_TS_TIMEOUT_MS=${bad}`), bad);
      } finally {
        delete process.env.SKIFF_CONFIG_TS_TIMEOUT_MS;
      }
    }
  });

  it("loading writes .skiff/ only when something changed, never a half-written file (temp + rename)", () => {
    const file = project(config(`run: "node server.js"`));
    loadProject({ file });
    const skiffDir = join(dirname(file), ".skiff");
    const written = [join(skiffDir, "node_modules/skiff/package.json"), join(skiffDir, "node_modules/skiff/index.js"), join(skiffDir, ".gitignore"), ...readdirSync(skiffDir).filter((f) => f.endsWith(".cjs")).map((f) => join(skiffDir, f))];
    assert.equal(written.length, 4, readdirSync(skiffDir).join());
    const old = new Date(2000, 0, 1);
    for (const f of written) utimesSync(f, old, old);
    const inodes = written.map((f) => statSync(f).ino);
    loadProject({ file });
    for (const [i, f] of written.entries()) {
      assert.equal(statSync(f).mtimeMs, old.getTime(), `${f} was written again`);
      assert.equal(statSync(f).ino, inodes[i], `${f} was replaced`);
    }
    // A changed stub is replaced whole (a new file renamed over it), not truncated in place.
    const stub = join(skiffDir, "node_modules/skiff/index.js");
    writeFileSync(stub, "// damaged\n");
    const before = statSync(stub).ino;
    loadProject({ file });
    assert.equal(readFileSync(stub, "utf8"), "exports.defineConfig = (c) => c;\n");
    assert.notEqual(statSync(stub).ino, before, "replaced by rename");
    assert.deepEqual(readdirSync(skiffDir).filter((f) => /tmp/.test(f)), [], "no temp files left");
  });

  it("a placement function runs apart: one that never returns is cut off, one that throws says so", () => {
    const file = project(config(`run: "node server.js", instances: 1, place: ({ machines }) => { if (machines.length > 1) for (;;) {} ; if (machines.length === 0) throw new Error("nowhere"); return { m1: 1 }; }`));
    const p = loadProject({ file });
    const m = (name: string) => ({ name, labels: [], cpus: 2, memoryBytes: 1, reserved: { cpus: 0, memoryBytes: 0 } });
    assert.deepEqual(p.apps.web!.place!({ app: "web", instances: 1, machines: [m("m1")], resources: {} }), { m1: 1 });
    assert.throws(() => p.apps.web!.place!({ app: "web", instances: 1, machines: [], resources: {} }), /nowhere/);
    // The short deadline only for the call that never returns.
    process.env.SKIFF_CONFIG_TS_TIMEOUT_MS = "1500";
    try {
      assert.throws(() => p.apps.web!.place!({ app: "web", instances: 1, machines: [m("m1"), m("m2")], resources: {} }), /did not finish within 1\.5 ?s/);
    } finally {
      delete process.env.SKIFF_CONFIG_TS_TIMEOUT_MS;
    }
  });
});
