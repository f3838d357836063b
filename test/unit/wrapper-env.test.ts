// A process app's shell finds `node` without a nodejs package: the agent's own runtime is last on its PATH, the
// machine's programs first, and the app's own PATH (from its env) wins. Run by a real sh.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { envScript } from "../../src/runtime/wrapper.ts";

const run = (env: Record<string, string>) => spawnSync("/bin/sh", ["-c", envScript(env, 'printf %s "$PATH"')], { env: { PATH: "/usr/bin:/bin" }, encoding: "utf8" }).stdout;

test("the agent's Node is last on a process app's PATH; the app's own PATH wins", () => {
  assert.equal(run({}), "/usr/sbin:/usr/bin:/sbin:/bin:/var/lib/skiff/node/bin");
  assert.equal(run({ PATH: "/opt/app/bin:/usr/bin" }), "/opt/app/bin:/usr/bin");
});
