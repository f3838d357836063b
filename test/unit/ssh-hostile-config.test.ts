// Values from skiff.yml that ssh would read as options must never run anything.
// No bed (it was an e2e test, but nothing here reaches a machine): the hostile
// config points nowhere, and `validate` refuses it before any ssh argv is
// built. The transport's own check (for a MachineSpec from anywhere) is in
// ssh-args.test.ts.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { skiff } from "./cli-fresh.ts";

const made: string[] = [];
after(() => made.forEach((d) => rmSync(d, { recursive: true, force: true })));

type Field = "host" | "proxy_jump" | "proxy_jump (a later hop)" | "identity_file";

function hostile(field: Field) {
  const dir = mkdtempSync(join(tmpdir(), "skiff-hostile-"));
  made.push(dir);
  const marker = join(dir, "x");
  const injected = `-oProxyCommand=sh -c 'id > ${marker}'`;
  const machine =
    field === "host"
      ? { host: injected }
      : { host: "127.0.0.1", port: 1, ssh: field === "identity_file" ? { identity_file: injected } : { proxy_jump: field === "proxy_jump" ? injected : `bastion,${injected}` } };
  writeFileSync(join(dir, "skiff.yml"), `project: hostile\nmachines:\n  m1: ${JSON.stringify(machine)}\napps:\n  web:\n    image: nginx\n    machines: [m1]\n`);
  return { dir, marker };
}

describe("hostile ssh values from skiff.yml", () => {
  for (const field of ["host", "proxy_jump", "proxy_jump (a later hop)", "identity_file"] as const) {
    for (const cmd of [["machines", "trust", "--yes"], ["machines", "check"], ["validate"]]) {
      it(`${field} starting with "-": \`skiff ${cmd.join(" ")}\` runs nothing and says what is wrong, at its line`, () => {
        const { dir, marker } = hostile(field);
        const r = skiff(cmd, { cwd: dir, env: { SKIFF_SOCKET_DIR: join(dir, "sock"), NO_COLOR: "1" } });
        assert.equal(existsSync(marker), false, `the injected command ran (${marker} exists)\n${r.stderr}`);
        assert.equal(r.status, 2, r.stdout + r.stderr);
        assert.match(r.stdout + r.stderr, new RegExp(`skiff\\.yml:3:\\d+: machines\\.m1\\.(ssh\\.)?${field.split(" ")[0]}`), "the message names the field, at its place");
        assert.doesNotMatch(r.stderr, /^\s+at /m, "no stack trace");
      });
    }
  }
});
