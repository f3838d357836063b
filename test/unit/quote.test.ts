import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { describe, it } from "node:test";
import { commandLine, quote } from "../../src/lib/quote.ts";
import { INJECTION_CASES } from "./injection-cases.ts";

describe("quote", () => {
  it("leaves safe words alone and quotes the rest", () => {
    assert.equal(quote("docker"), "docker");
    assert.equal(quote("/var/lib/skiff"), "/var/lib/skiff");
    assert.equal(quote(""), "''");
    assert.equal(quote("a b"), "'a b'");
    assert.equal(quote("it's"), `'it'\\''s'`);
    assert.equal(quote("a=b"), "'a=b'"); // would be an assignment as the first word
    assert.equal(quote("~"), "'~'");
  });

  it("refuses NUL bytes", () => {
    assert.throws(() => quote("a\0b"), /NUL/);
  });

  for (const value of INJECTION_CASES) {
    it(`round-trips ${JSON.stringify(value)} through sh byte-exact`, () => {
      const line = commandLine(["printf", "%s", value]);
      const res = spawnSync("sh", ["-c", line], { encoding: "buffer" });
      assert.equal(res.status, 0, res.stderr.toString());
      assert.deepEqual(res.stdout, Buffer.from(value, "utf8"));
      assert.equal(existsSync("/tmp/skiff-pwned"), false);
    });
  }
});
