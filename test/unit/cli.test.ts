// The built CLI as a user runs it: exit codes, messages, no stack traces for mistakes.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";

const BIN = new URL("../../bin/skiff.js", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "skiff-cli-test-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const skiff = (args: string[], cwd = dir) => spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: "utf8" });

describe("skiff CLI", () => {
  it("init writes a starter that validates, with the schema for editors", () => {
    const d = mkdtempSync(join(dir, "init-"));
    const r = skiff(["init"], d);
    assert.equal(r.status, 0, r.stderr);
    assert.match(readFileSync(join(d, "skiff.yml"), "utf8"), /^# yaml-language-server: \$schema=\.skiff\/skiff\.schema\.json/);
    JSON.parse(readFileSync(join(d, ".skiff", "skiff.schema.json"), "utf8"));
    const v = skiff(["validate"], d);
    assert.equal(v.status, 0, v.stderr);
    assert.match(v.stdout, /ok — project init-\w+, 1 machine\(s\), 1 app\(s\)/);
    const again = skiff(["init"], d);
    assert.equal(again.status, 1);
    assert.match(again.stderr, /already exists\nhint: pass --force/);
  });

  it("validate: a misspelt key gives file:line:col and a suggestion, exit 2, no stack", () => {
    writeFileSync(join(dir, "skiff.yml"), "project: shop\nmachines:\n  web1:\n    hots: 10.0.0.1\n");
    const r = skiff(["validate"]);
    assert.equal(r.status, 2);
    assert.equal(r.stderr, 'skiff.yml: 2 problems\n  skiff.yml:3:3: missing required key "host" in machines.web1\n  skiff.yml:4:5: unknown key "hots" in machines.web1 (did you mean "host"?)\n');
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  });

  it("validate --json renders the problems as JSON", () => {
    writeFileSync(join(dir, "skiff.yml"), "project: shop\nmachines:\n  web1:\n    hots: 10.0.0.1\n");
    const r = skiff(["--json", "validate"]);
    assert.equal(r.status, 2);
    const out = JSON.parse(r.stdout) as { error: { diagnostics: { line: number; col: number; hint?: string }[] } };
    assert.deepEqual(out.error.diagnostics.map((d) => [d.line, d.col, d.hint]), [[3, 3, undefined], [4, 5, 'did you mean "host"?']]);
  });

  it("an unknown environment and an unknown machine are clear errors", () => {
    writeFileSync(join(dir, "skiff.yml"), "project: shop\nmachines:\n  web1: { host: local }\nenvironments:\n  staging: {}\n");
    const e = skiff(["-e", "stagin", "validate"]);
    assert.equal(e.status, 2);
    assert.match(e.stderr, /environment "stagin" is not defined \(defined: staging\) \(did you mean "staging"\?\)/);
    const m = skiff(["setup", "--dry-run", "web2"]);
    assert.equal(m.status, 1);
    assert.equal(m.stderr, 'error: no machine named "web2" in skiff.yml\nhint: did you mean "web1"?\n');
  });

  it("no skiff.yml: says where it looked and what to do", () => {
    const d = mkdtempSync(join(tmpdir(), "skiff-empty-"));
    const r = skiff(["validate"], d);
    rmSync(d, { recursive: true });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^error: no skiff\.yml \(or skiff\.config\.ts\) in .* or any parent directory\nhint: run `skiff init`/);
  });

  it("an unknown command exits 2 with a suggestion", () => {
    const r = skiff(["setpu"]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /unknown command 'setpu'[\s\S]*Did you mean setup\?/);
  });
});
