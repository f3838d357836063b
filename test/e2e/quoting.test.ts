// Every value in the injection table crosses real ssh to a real machine and
// comes back byte-exact from `printf %s`, as argv and as script arguments.
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { loadProject } from "../../src/config/load.ts";
import { connect, sshContext } from "../../src/transport/connect.ts";
import type { Transport } from "../../src/transport/types.ts";
import { faults, up, type Bed } from "../../testbed/bed.ts";
import { INJECTION_CASES } from "../unit/injection-cases.ts";
import { makeProject } from "./helpers.ts";

let bed: Bed;
let t: Transport;

describe("quoting through real ssh", { timeout: 300_000 }, () => {
  before(async () => {
    bed = await up({ count: 3 });
    const p = makeProject(bed);
    const trust = await p.skiff(["machines", "trust", "m1", "--yes"]);
    assert.equal(trust.code, 0, trust.stderr);
    const project = loadProject({ file: `${p.dir}/skiff.yml` });
    t = connect(project.machines.m1!, sshContext(project, { socketDir: p.socketDir }));
  });

  for (const value of INJECTION_CASES) {
    it(`${JSON.stringify(value)} round-trips`, async () => {
      const viaArgv = await t.run(["printf", "%s", value], { step: "printf" });
      assert.equal(viaArgv.stdout, value);
      const viaScript = await t.script('printf %s "$1"', [value], { step: "printf script" });
      assert.equal(viaScript.stdout, value);
    });
  }

  it("nothing was executed on the machine", async () => {
    assert.equal(await faults.exec(bed.machines[0]!, "test -e /tmp/skiff-pwned && echo pwned || echo clean"), "clean");
  });

  it("stdin carries data byte-exact (secrets travel this way, never in argv)", async () => {
    const data = Buffer.from(INJECTION_CASES.join("\0"), "utf8");
    const r = await t.run(["sha256sum"], { step: "hash stdin", stdin: data });
    const { createHash } = await import("node:crypto");
    assert.equal(r.stdout.split(" ")[0], createHash("sha256").update(data).digest("hex"));
  });

  it("a failing command names machine, step, exit code meaning and stderr", async () => {
    await assert.rejects(t.run(["sh", "-c", "echo boom >&2; exit 127"], { step: "run a missing tool" }), (e: Error) => {
      assert.equal(e.message, "m1: run a missing tool failed (exit 127: command not found)\n  │ boom");
      return true;
    });
    await t.close();
  });
});
