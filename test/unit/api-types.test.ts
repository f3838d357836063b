// The package's types are real: the two examples type-check against the built
// declarations (dist/types/api.d.ts) as a consumer's `import … from "skiff"`
// resolves them, and a call that misuses the API does not.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";

const ROOT = new URL("../../", import.meta.url).pathname;

function tsc(files: Record<string, string>, extra: string[] = []): { code: number | null; out: string } {
  const dir = mkdtempSync(join(tmpdir(), "skiff-apitypes-"));
  try {
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    const compilerOptions = {
      strict: true, noEmit: true, module: "NodeNext", moduleResolution: "NodeNext", target: "ES2022", skipLibCheck: true, noUncheckedIndexedAccess: true,
      baseUrl: ".", paths: { skiff: [join(ROOT, "dist/types/api.d.ts")] }, typeRoots: [join(ROOT, "node_modules/@types")], types: ["node"],
    };
    writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({ compilerOptions, files: [...Object.keys(files), ...extra] }));
    const r = spawnSync(process.execPath, [join(ROOT, "node_modules/typescript/bin/tsc"), "-p", dir], { encoding: "utf8" });
    return { code: r.status, out: r.stdout + r.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("the API's published types", () => {
  it("type-check both examples", () => {
    assert.ok(existsSync(join(ROOT, "dist/types/api.d.ts")), "dist/types/api.d.ts is missing: `npm run build` makes it");
    const r = tsc({}, [join(ROOT, "examples/ci-deploy/ci-deploy.ts"), join(ROOT, "examples/custom-scheduler/scheduler.ts")]);
    assert.equal(r.code, 0, r.out);
  });

  it("reject a misuse: a misspelt option, a wrong result field, an unknown event", () => {
    const good = `import { Skiff, UserError, RemoteError, InternalError } from "skiff";
const s = await Skiff.open({ config: "skiff.yml", environment: "staging", settings: { user: "ci" } });
s.on("event", (e) => { if (e.type === "step") console.log(e.machine, e.status); });
const d = await s.deploy({ apps: ["web"], dryRun: true });
const n: number = d.plan.apps.length + (d.ok ? 1 : 0);
const st = await s.status({ app: "web" });
for (const m of st) if ("apps" in m) console.log(m.apps[0]?.instances[0]?.healthy);
try { await s.rollback({ to: 3 }); } catch (e) { if (e instanceof RemoteError) console.log(e.machine, e.step, e.code, e.stderrLines); else if (e instanceof UserError) console.log(e.diagnostics[0]?.line, e.hint, e.exitCode); else if (e instanceof InternalError) console.log(e.cause); }
console.log(n, (await s.history({ limit: 5 })).rows[0]?.machines, (await s.lock.status())[0]?.machine, (await s.machines.check())[0]?.facts?.memory.availKb);
export {};
`;
    const ok = tsc({ "good.mts": good });
    assert.equal(ok.code, 0, ok.out);
    const bad = `import { Skiff } from "skiff";
const s = await Skiff.open({ config: "skiff.yml" });
await s.deploy({ app: "web" });
const r = await s.scale({ web: 2 });
console.log(r.results);
s.on("progress", () => {});
export {};
`;
    const r = tsc({ "bad.mts": bad });
    assert.notEqual(r.code, 0);
    assert.match(r.out, /bad\.mts\(3,[^)]*\): error TS2561|bad\.mts\(3,[^)]*\): error TS2353/, r.out);
    assert.match(r.out, /bad\.mts\(5,[^)]*\): error TS2339/, r.out);
    assert.match(r.out, /bad\.mts\(6,[^)]*\): error TS2345/, r.out);
  });
});
