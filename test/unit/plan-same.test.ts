// `skiff plan` and `skiff deploy --dry-run` are one plan: both CLI handlers, given
// the same observed machines and local facts (injected), print the same text and
// the same JSON, which is exactly what the one pure planDeploy returns.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { deployCommand } from "../../src/cli/deploy.ts";
import type { Ctx } from "../../src/cli/context.ts";
import { planCommand } from "../../src/cli/plan.ts";
import type { ObserveOptions } from "../../src/exec/observe.ts";
import type { PlanEffects } from "../../src/exec/plan.ts";
import { plainReporter } from "../../src/contracts/events.ts";
import { planDeploy } from "../../src/plan/deploy.ts";
import { deployed, empty, facts, project, release } from "./plan-fixtures.ts";

function ctxFor(json: boolean): { ctx: Ctx; lines: string[] } {
  const lines: string[] = [];
  const p = project({ level: "debug" });
  return { ctx: { project: p, json, reporter: plainReporter(process.stderr, false), out: (l: string) => void lines.push(l) } as Ctx, lines };
}

describe("skiff plan and skiff deploy --dry-run", () => {
  const state = () => deployed(empty(), release(project(), facts(), 7));
  const asked: ObserveOptions[] = [];
  const effects: PlanEffects = {
    observe: async (_clients, _project, opts) => (asked.push(opts), state()),
    local: async () => facts({ secret: "changed-secret" }),
  };

  for (const json of [false, true]) {
    it(`print the same plan (${json ? "--json" : "text"}), the one planDeploy makes`, async () => {
      const a = ctxFor(json);
      const b = ctxFor(json);
      asked.length = 0;
      assert.equal(await planCommand(a.ctx, ["web"], {}, effects), 2, "plan: changes → exit 2");
      assert.equal(await deployCommand(b.ctx, ["web"], { dryRun: true }, effects), 0, "a dry run that worked → exit 0");
      assert.equal(a.lines.length > 2, !json, "text: a line per machine and change; JSON: one object");
      assert.deepEqual(b.lines, a.lines);
      // Both read the same things, and only read: capacity, release lists and specs, which images are there.
      assert.equal(asked.length, 2);
      assert.deepEqual({ ...asked[1], specs: undefined }, { ...asked[0], specs: undefined });
      assert.equal(asked[0]!.specs, asked[1]!.specs);
      assert.deepEqual(asked[0]!.images, [{ id: facts().images[0]!.id, runtime: "docker" }]);
      const direct = planDeploy(a.ctx.project, state(), { apps: ["web"], ...facts({ secret: "changed-secret" }) });
      if (json) assert.deepEqual(JSON.parse(a.lines[0]!), JSON.parse(JSON.stringify(direct)));
      assert.ok(!a.lines.join("\n").includes("changed-secret"));
      assert.match(a.lines.join("\n"), /env\.LEVEL: info → debug|"key":"env\.LEVEL","from":"info","to":"debug"/);
    });
  }
});
