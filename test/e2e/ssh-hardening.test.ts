// Values from skiff.yml that ssh would read as options must never run anything.
// No bed: the hostile config points nowhere; what matters is what ssh is given.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { makeProject } from "./helpers.ts";

const made: string[] = [];
after(() => made.forEach((d) => rmSync(d, { recursive: true, force: true })));

function hostile(field: "host" | "proxy_jump" | "identity_file") {
  const marks = mkdtempSync(join(tmpdir(), "skiff-mark-"));
  const marker = join(marks, "x");
  const injected = `-oProxyCommand=sh -c 'id > ${marker}'`;
  const p = makeProject();
  made.push(marks, p.dir, p.socketDir);
  const machine =
    field === "host"
      ? { host: injected }
      : { host: "127.0.0.1", port: 1, ssh: field === "proxy_jump" ? { proxy_jump: injected } : { identity_file: injected } };
  writeFileSync(join(p.dir, "skiff.yml"), `project: hostile\nmachines:\n  m1: ${JSON.stringify(machine)}\napps:\n  web:\n    image: nginx\n    machines: [m1]\n`);
  return { p, marker };
}

describe("hostile ssh values from skiff.yml", () => {
  for (const field of ["host", "proxy_jump", "identity_file"] as const) {
    for (const cmd of [["machines", "trust", "--yes"], ["machines", "check"]]) {
      it(`${field} starting with "-": \`skiff ${cmd.join(" ")}\` runs nothing and says what is wrong`, async () => {
        const { p, marker } = hostile(field);
        const r = await p.skiff(cmd);
        assert.equal(existsSync(marker), false, `the injected command ran (${marker} exists)\n${r.stderr}`);
        assert.notEqual(r.code, 0, r.stdout + r.stderr);
        assert.match(r.stdout + r.stderr, new RegExp(field), "the message names the field");
        assert.doesNotMatch(r.stderr, /^\s+at /m, "no stack trace");
      });
    }
  }
});
