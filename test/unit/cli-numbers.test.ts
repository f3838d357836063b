// Every numeric flag and argument is checked before anything connects: a clear error, exit 2, no stack.
// (The CLI bundled from the current source, as cli.test.ts runs it; its only machine is a closed port, so a run
// that got past the check would fail differently, or loop, which the timeout turns into a failure.)
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { skiff as run } from "./cli-fresh.ts";

const dir = mkdtempSync(join(tmpdir(), "skiff-cli-numbers-"));
after(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, "skiff.yml"), "project: shop\nmachines:\n  m1:\n    host: 127.0.0.1\n    port: 1\napps:\n  web:\n    image: nginx:1\n    port: 80\n");

const skiff = (args: string[]) => run(args, { cwd: dir, timeoutMs: 15_000, env: { NO_COLOR: "1" } });

const cases: { args: string[]; says: RegExp }[] = [];
for (const bad of ["0", "-1", "abc", "1.5", "99999999999999999999"]) {
  cases.push({ args: ["rollback", "--max-parallel", bad], says: /--max-parallel must be a whole number from 1 to/ });
  cases.push({ args: ["rollback", "--to", bad], says: /--to must be a whole number from 1 to/ });
  cases.push({ args: ["history", "-n", bad], says: /--limit must be a whole number from 1 to/ });
  cases.push({ args: ["setup", "--parallel", bad], says: /--parallel must be a whole number from 1 to 100/ });
  cases.push({ args: ["demo", "--port", bad], says: /--port must be a whole number from 1 to 65535/ });
}
for (const bad of ["web=-1", "web=abc", "web=", "web=1001"]) cases.push({ args: ["scale", bad], says: /the instance count in "web=.*" must be a whole number from 0 to 1000/ });
cases.push({ args: ["demo", "--port", "70000"], says: /--port must be a whole number from 1 to 65535/ });

describe("numeric flags", () => {
  it(`${cases.length} bad numbers: each a clear error naming the flag, exit 2, nothing run`, () => {
    const wrong: string[] = [];
    for (const c of cases) {
      const r = skiff(c.args);
      const problem = r.error ? `did not finish: ${r.error.message}` : r.status !== 2 ? `exit ${r.status}` : !c.says.test(r.stderr) ? "message" : /\n\s+at /.test(r.stderr) ? "stack trace" : undefined;
      if (problem) wrong.push(`skiff ${c.args.join(" ")} → ${problem}: ${(r.stderr || r.stdout).trim().split("\n").slice(0, 2).join(" / ")}`);
    }
    assert.deepEqual(wrong, []);
  });
});
