// skiff plan compares what each machine would store: a machine that runs none of
// the app keeps the release without secrets and files, so an unchanged release
// is "no changes" there, and a changed secret shows as a changed digest only.
// Names from skiff.yml never resolve through Object.prototype.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { localCount } from "../../src/contracts/model.ts";
import { specFor } from "../../src/plan/release-spec.ts";
import { renderTemplate } from "../../src/exec/files.ts";
import { diffSpecs } from "../../src/plan/diff.ts";
import { spec } from "./fake-machine.ts";

describe("plan on machines without the app's instances", () => {
  const files = [{ path: "app.env", mode: 0o600, content: Buffer.from("DB=x").toString("base64") }];
  const v1 = spec("shop", "web", 1, { placement: { m1: 1 }, secrets: { DB: "one" }, files });

  it("the same release is no change on m2 (withheld copy), and none on m1", () => {
    assert.deepEqual(diffSpecs(specFor(v1, "m2"), specFor({ ...v1, release: 0 }, "m2")), []);
    assert.deepEqual(diffSpecs(specFor(v1, "m1"), specFor({ ...v1, release: 0 }, "m1")), []);
  });

  it("a changed secret is a hidden change on m1 and a digest change on m2; no value is shown", () => {
    const v2 = { ...v1, release: 0, secrets: { DB: "two" } };
    const m1 = diffSpecs(specFor(v1, "m1"), specFor(v2, "m1"));
    assert.deepEqual(m1, [{ key: "secret DB", note: "changed (value hidden)" }]);
    const m2 = diffSpecs(specFor(v1, "m2"), specFor(v2, "m2"));
    assert.deepEqual(m2, [{ key: "secrets and files", note: "changed (not kept on this machine)" }]);
    assert.ok(!JSON.stringify([m1, m2]).includes("two"));
  });

  it("a machine leaving the placement does not read as 'secret removed'", () => {
    const moved = { ...v1, release: 0, placement: { m2: 1 } };
    const m1 = diffSpecs(specFor(v1, "m1"), specFor(moved, "m1"));
    assert.ok(!m1.some((c) => c.key.startsWith("secret ") || c.key.startsWith("file ")), JSON.stringify(m1));
  });

  it("placement and templates never find names on Object.prototype", () => {
    assert.equal(localCount(spec("shop", "web", 1, { placement: { m1: 1 } }), "constructor"), 0);
    for (const name of ["constructor", "toString", "__proto__", "hasOwnProperty"]) {
      assert.throws(() => renderTemplate(`x=\${${name}}`, { A: "1" }, "app.env"), /neither an env variable nor a secret/, name);
    }
  });
});
