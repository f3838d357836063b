// The words `skiff status` puts in the table for a machine that did not answer,
// from the errors the agent channel gives (shapes as src/transport/agent-client.ts makes them).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { machineProblem } from "../../src/api/machine-problem.ts";
import { UserError } from "../../src/errors.ts";

const lost = (code: number, stderr: string[], hint?: string) => new UserError(`m2: lost the connection to the agent (exit ${code}${code === 255 ? ": ssh itself failed" : ""})\n${stderr.map((l) => `  │ ${l}`).join("\n")}`, { hint });

describe("machineProblem", () => {
  it("tells an agent that is down from a machine ssh cannot reach", () => {
    assert.match(machineProblem(lost(3, ["skiff-agent: cannot reach the agent at /run/skiff/agent.sock: ECONNREFUSED"])), /^agent not running \(its socket refuses connections/);
    assert.match(machineProblem(lost(3, ["skiff-agent: cannot reach the agent at /run/skiff/agent.sock: ENOENT"])), /^agent not running \(no agent socket/);
    assert.equal(machineProblem(lost(255, ["kex_exchange_identification: Connection closed by remote host"])), "unreachable (ssh: kex_exchange_identification: Connection closed by remote host)");
    assert.equal(machineProblem(lost(255, ["ssh: connect to host 10.0.0.9 port 22: Connection refused"], "nothing listens on the ssh port")), "unreachable (ssh: nothing listens on the ssh port)");
    assert.match(machineProblem(lost(127, ["skiff-agent: Node.js is not installed"])), /^agent not installed/);
    assert.match(machineProblem(new UserError("m2: agent refused state: ENOSPC: no space left on device, mkdir '/var/lib/skiff/x'")), /^disk full/);
    assert.equal(machineProblem(new UserError("m2: agent refused state: boom")), "agent error: boom");
  });
});
