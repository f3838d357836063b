// The agent command (/usr/local/bin/skiff-agent), run for real with sh and a
// stand-in `node` that prints its arguments: the Node skiff ships comes first,
// the machine's after it, and only `serve` gets the agent's Node flags.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { STATE_DIR } from "../../src/contracts/paths.ts";
import { agentWrapper, systemdUnit } from "../../src/plan/agent-files.ts";

const root = mkdtempSync(join(tmpdir(), "skiff-wrapper-"));
after(() => rmSync(root, { recursive: true, force: true }));

const text = agentWrapper().content.toString();
const flags = /^NODE_FLAGS="(.*)"$/m.exec(text)?.[1];

/** A stand-in node at `path` that prints who it is and its arguments. */
function fakeNode(path: string, name: string): void {
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, `#!/bin/sh\necho ${name} "$@"\n`);
  chmodSync(path, 0o755);
}

function run(dir: string, args: string[]): string {
  const script = join(dir, "skiff-agent");
  writeFileSync(script, text.replaceAll(STATE_DIR, join(dir, "state")));
  const r = spawnSync("/bin/sh", [script, ...args], { encoding: "utf8", env: { PATH: `${join(dir, "bin")}:/usr/bin:/bin` } });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

describe("the agent command", () => {
  it("declares its Node flags on one line the footprint bench can rewrite", () => {
    assert.equal(typeof flags, "string");
  });

  it("only serve gets the flags; connect, call and artifact-put start plain", () => {
    const dir = join(root, "machine-node");
    fakeNode(join(dir, "bin", "node"), "machine-node");
    const agent = join(dir, "state", "agent", "skiff-agent.cjs");
    assert.equal(run(dir, ["serve"]), ["machine-node", ...(flags ? flags.split(" ") : []), agent, "serve"].join(" "));
    for (const cmd of [["connect"], ["call", "ping"], ["artifact-put", "abc"]]) assert.equal(run(dir, cmd), ["machine-node", agent, ...cmd].join(" "));
  });

  it("prefers the Node that setup ships under the state directory", () => {
    const dir = join(root, "shipped-node");
    fakeNode(join(dir, "bin", "node"), "machine-node");
    fakeNode(join(dir, "state", "node", "bin", "node"), "shipped-node");
    assert.match(run(dir, ["connect"]), /^shipped-node /);
  });
});

describe("the systemd unit", () => {
  it("runs serve through the agent command (its Node and flags) and restarts it without limit", () => {
    const unit = systemdUnit().content.toString();
    assert.match(unit, /^ExecStart=\/usr\/local\/bin\/skiff-agent serve$/m);
    assert.match(unit, /^StartLimitIntervalSec=0$/m);
  });
});
