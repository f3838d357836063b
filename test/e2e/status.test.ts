// `skiff status` says what is wrong with a machine that does not answer, in the
// table too: its agent is not running, or ssh cannot reach it.
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { faults, up, type Bed } from "../../testbed/bed.ts";
import type { MachineSpec } from "../../src/config/model.ts";
import { forwardPath } from "../../src/transport/agent-forward.ts";
import { makeProject, type Project } from "./helpers.ts";

let bed: Bed;
let p: Project;

/** The STATE column of m2's row. */
const m2Row = (table: string) => table.split("\n").find((l) => / m2 /.test(l)) ?? `(no row for m2 in:\n${table})`;

describe("status of a machine that does not answer", { timeout: 300_000 }, () => {
  before(async () => {
    bed = await up({ count: 2, log: (s) => console.error(`bed: ${s}`) });
    p = makeProject(bed);
    for (const args of [["machines", "trust", "--yes"], ["setup"]]) {
      const r = await p.skiff(args);
      assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
    }
  });
  after(async () => {
    // Whatever happened, m2 gets its agent and its network back.
    await faults.reconnect(bed.machines[1]!).catch(() => {});
    await faults.exec(bed.machines[1]!, "/etc/init.d/skiff-agent start >/dev/null 2>&1 || true").catch(() => {});
  });

  it("its agent stopped (supervisor too): the table says the agent is not running, not unreachable", async () => {
    const m2 = bed.machines[1]!;
    // The agent answers first (setup may just have restarted it), so the stop below is not racing its start.
    assert.equal((await p.skiff(["status"])).code, 0);
    // The supervisor stops its serve child on SIGTERM and exits: nothing restarts the agent.
    await faults.exec(m2, "kill $(cat /run/skiff/agent-supervisor.pid); for i in $(seq 100); do pgrep -f 'skiff-agent.cj[s] (serve|supervise)' >/dev/null || exit 0; sleep 0.1; done; ps -eo pid,ppid,args >&2; exit 1");
    const r = await p.skiff(["status"]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const row = m2Row(r.stdout);
    assert.match(row, /agent not running/, row);
    assert.doesNotMatch(row, /unreachable/, row);
    const json = JSON.parse((await p.skiff(["--json", "status"])).stdout) as { machine: string; error?: string; problem?: string }[];
    assert.match(json.find((m) => m.machine === "m2")!.problem ?? "", /agent not running/);
    await faults.exec(m2, "/etc/init.d/skiff-agent start");
  });

  it("an ssh server that refuses socket forwarding (AllowStreamLocalForwarding no): commands still reach the agent", async () => {
    const m2 = bed.machines[1]!;
    // A new ssh connection sees the new setting: a socket directory of its own means a master of its own.
    const socketDir = mkdtempSync(join(tmpdir(), "skiff-nofwd-"));
    await faults.exec(m2, "cp /etc/ssh/sshd_config /etc/ssh/sshd_config.skiff-test && echo 'AllowStreamLocalForwarding no' >> /etc/ssh/sshd_config && pkill -HUP -x sshd");
    try {
      await new Promise((r) => setTimeout(r, 500));
      const r = await p.skiff(["--json", "status"], { socketDir });
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const st = JSON.parse(r.stdout) as { machine: string; error?: string; problem?: string }[];
      assert.deepEqual(st.map((m) => [m.machine, m.error ?? m.problem ?? "ok"]), [["m1", "ok"], ["m2", "ok"]]);
      const h = await p.skiff(["history"], { socketDir });
      assert.equal(h.code, 0, h.stderr);
      // The forward itself carries nothing on this server: the answers came through `skiff-agent connect`.
      const mine = forwardPath(socketDir, { host: "127.0.0.1", port: m2.sshPort, user: "root" } as MachineSpec);
      for (const f of readdirSync(socketDir).filter((n) => join(socketDir, n) === mine)) {
        const answer = await new Promise<string>((resolve) => {
          const c = createConnection(join(socketDir, f));
          let b = "";
          c.on("data", (x) => (b += x));
          c.on("close", () => resolve(b));
          c.on("error", () => resolve(""));
          c.write('{"id":1,"method":"ping"}\n');
          setTimeout(() => c.destroy(), 3000);
        });
        if (answer) assert.doesNotMatch(answer, /pong/, `${f} answered through the forward`);
      }
    } finally {
      await faults.exec(m2, "mv /etc/ssh/sshd_config.skiff-test /etc/ssh/sshd_config && pkill -HUP -x sshd");
      rmSync(socketDir, { recursive: true, force: true });
    }
  });

  it("cut off the network: the table says unreachable, and that ssh failed", async () => {
    const m2 = bed.machines[1]!;
    await faults.disconnect(m2);
    try {
      const r = await p.skiff(["status"]);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      const row = m2Row(r.stdout);
      assert.match(row, /unreachable \(ssh: /, row);
      assert.doesNotMatch(row, /agent/, row);
    } finally {
      await faults.reconnect(m2);
    }
  });
});
