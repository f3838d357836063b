// A process app finds `node` without a nodejs package: its PATH is the machine's programs, then the agent's own
// Node runtime; an app's own PATH (from its env) wins. A real instance of the process runtime prints its PATH.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { ProcessRuntime } from "../../src/runtime/process.ts";

const labels = { "skiff.managed": "1", "skiff.project": "p", "skiff.app": "a", "skiff.release": "1" };

async function pathOf(env: Record<string, string>): Promise<string> {
  const base = mkdtempSync(join(tmpdir(), "skiff-path-"));
  process.env.SKIFF_CGROUP_ROOT = join(base, "no-cgroups");
  const rt = new ProcessRuntime(base);
  try {
    await rt.start({ name: "i", image: "none", command: 'printf "%s\\n" "$PATH"', containerPort: 3000, hostPort: 23457, bindAddress: "127.0.0.1", env, labels });
    for (let i = 0; i < 200 && !existsSync(join(base, "instances", "i", "exit")); i++) await new Promise((r) => setTimeout(r, 25));
    return (await rt.logs("i", 5)).trim();
  } finally {
    delete process.env.SKIFF_CGROUP_ROOT;
    await rt.remove("i").catch(() => {});
  }
}

test("the agent's Node is last on a process app's PATH; the app's own PATH wins", async () => {
  assert.equal(await pathOf({}), "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/var/lib/skiff/node/bin");
  assert.equal(await pathOf({ PATH: "/opt/app/bin:/usr/bin" }), "/opt/app/bin:/usr/bin");
});
