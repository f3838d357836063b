// docs/api.md is generated from the API's declarations: run `npm run gen` when this fails.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { apiReference } from "../../scripts/api-reference.ts";

describe("docs/api.md", () => {
  const text = apiReference();
  it("is current (npm run gen)", () => {
    assert.equal(readFileSync(new URL("../../docs/api.md", import.meta.url), "utf8"), text);
  });
  it("documents every method of Skiff the CLI relies on", () => {
    for (const m of ["Skiff.open", "deploy", "plan", "rollback", "scale", "remove", "status", "history", "lock.status", "lock.release", "setup", "machines.check", "machines.trust", "on", "build", "diff", "validate", "secrets.list", "secrets.set", "secrets.unset", "secrets.reveal", "secrets.rotateKey", "Skiff.keygen"]) {
      assert.match(text, new RegExp(`^### ${m.replace(".", "\\.")}\\n`, "m"), m);
    }
  });
});
