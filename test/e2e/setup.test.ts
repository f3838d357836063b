// skiff setup and machines check/trust on a fresh 3-machine test bed:
// real sshd, real dockerd, apt from Debian's mirror.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { REQUEST_LOG_ADDR } from "../../src/contracts/logs.ts";
import { faults, up, type Bed } from "../../testbed/bed.ts";
import { freshSocketDir, makeProject, type Project } from "./helpers.ts";

const AGENT_SHA = createHash("sha256").update(readFileSync(new URL("../../dist/skiff-agent.cjs", import.meta.url))).digest("hex");
const NODE_SHA = createHash("sha256").update(readFileSync(process.execPath)).digest("hex");
const VERSION = (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;

let bed: Bed;
let p: Project;

interface CheckRow {
  machine: string;
  reachable: boolean;
  ready: boolean;
  error?: { message: string; hint?: string };
  warnings: string[];
  facts?: { agent?: { version: string; sha256: string; node: string }; haproxy?: string; docker?: { server?: string }; node?: { major: number; path: string }; disk: { inodesFree: number; inodesTotal: number } };
}

describe("setup on a fresh 3-machine bed", { timeout: 600_000 }, () => {
  before(async () => {
    bed = await up({ count: 3, fresh: true, log: (s) => console.error(`bed: ${s}`) });
    p = makeProject(bed, "apps:\n  web: { image: nginx:1.27 }\n");
  });

  it("an untrusted machine is refused with a hint to trust it", async () => {
    const r = await p.skiff(["machines", "check", "m1"]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^m1\s+no\s/m);
    assert.match(r.stderr, /m1: read machine facts failed \(exit 255: ssh itself failed/);
    assert.match(r.stderr, /hint: "m1" is not trusted yet: run `skiff machines trust m1`/);
  });

  it("machines trust shows fingerprints and records them", async () => {
    const r = await p.skiff(["machines", "trust", "--yes"]);
    assert.equal(r.code, 0, r.stderr);
    for (const m of bed.machines) {
      const fp = await faults.exec(m, "ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub | cut -d' ' -f2");
      assert.match(r.stdout, new RegExp(`^${m.name}: trusted ${fp.replace(/[+/]/g, "\\$&")} \\(ED25519\\)$`, "m"));
    }
    const again = await p.skiff(["machines", "trust"]);
    assert.equal(again.code, 0);
    assert.equal(again.stdout.match(/already trusted/g)?.length, 3);
  });

  it("setup --dry-run prints the plan and changes nothing", async () => {
    const r = await p.skiff(["setup", "--dry-run"]);
    assert.equal(r.code, 0, r.stderr);
    // No nodejs package: the agent's runtime is this CLI's own Node, shipped.
    assert.match(r.stdout, new RegExp(`m1: would\\n  - install haproxy, nftables \\(apt\\)\\n  - install the agent's Node runtime ${process.version.replace(/\./g, "\\.")} \\(\\d+ MB\\)\\n  - create /var/lib/skiff\\n  - write agent`));
    for (const m of bed.machines) assert.equal(await faults.exec(m, "test -e /usr/local/bin/skiff-agent || test -e /var/lib/skiff/node || command -v haproxy || echo untouched"), "untouched");
  });

  it("setup takes fresh machines to a running agent", async () => {
    const r = await p.skiff(["setup"]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /setup: 3\/3 machine\(s\) ready/);
    for (const m of bed.machines) {
      assert.equal(await faults.exec(m, "/usr/local/bin/skiff-agent call ping"), '"pong"');
      assert.equal(await faults.exec(m, "stat -c %a /run/skiff/agent.sock"), "600");
      // No agent port on the network: the only TCP socket node listens on is HAProxy's request log, on loopback.
      assert.equal(await faults.exec(m, "ss -ltnpH | grep node | awk '{ print $4 }' | sort -u"), REQUEST_LOG_ADDR);
      assert.match(await faults.exec(m, "haproxy -v | head -1"), /HAProxy version 2\./);
      // The agent runs on the shipped runtime, checked by hash, and no distribution Node was installed.
      const info = JSON.parse(await faults.exec(m, "/usr/local/bin/skiff-agent call version")) as { pid: number; node: string };
      assert.equal(info.node, process.version);
      assert.equal(await faults.exec(m, `readlink /proc/${info.pid}/exe`), "/var/lib/skiff/node/bin/node");
      assert.equal(await faults.exec(m, "sha256sum /var/lib/skiff/node/bin/node | cut -d' ' -f1"), NODE_SHA);
      assert.equal(await faults.exec(m, "dpkg -s nodejs >/dev/null 2>&1 && echo installed || echo absent"), "absent");
      assert.equal(await faults.exec(m, "ls /var/lib/skiff/node/bin"), "node", "no temp file or previous copy is left");
    }
  });

  it("a second setup changes nothing and says so", async () => {
    const r = await p.skiff(["setup"]);
    assert.equal(r.code, 0, r.stderr);
    for (const m of bed.machines) assert.match(r.stdout, new RegExp(`^${m.name}: ready, no changes$`, "m"));
    assert.doesNotMatch(r.stderr, /✓/);
  });

  it("machines check reports every machine, as a table and as JSON", async () => {
    const t = await p.skiff(["doctor"]);
    assert.equal(t.code, 0, t.stderr);
    assert.match(t.stdout, /^MACHINE\s+REACHABLE\s+OS\s+ARCH\s+DISK FREE\s+INODES FREE\s+MEM FREE\s+DOCKER\s+HAPROXY\s+NODE\s+AGENT\s+FIREWALL$/m);
    assert.match(t.stdout, new RegExp(`^m2\\s+yes\\s+Debian GNU/Linux 12 \\(bookworm\\)\\s+x86_64\\s+[\\d.]+G/[\\d.]+G\\s+\\d+k/\\d+k\\s+.*${process.version.replace(/\./g, "\\.")}\\s+${VERSION} \\(${AGENT_SHA.slice(0, 8)}\\)\\s+on \\(3 addr\\)$`, "m"));
    assert.doesNotMatch(t.stderr, /warning/);
    const j = await p.skiff(["--json", "machines", "check"]);
    const rows = JSON.parse(j.stdout) as CheckRow[];
    assert.deepEqual(rows.map((r) => [r.machine, r.reachable, r.ready, r.facts?.agent?.version, r.facts?.agent?.sha256]), bed.machines.map((m) => [m.name, true, true, VERSION, AGENT_SHA]));
    assert.ok(rows.every((r) => r.facts!.docker!.server && r.facts!.haproxy && r.facts!.node!.major >= 18));
    assert.ok(rows.every((r) => r.facts!.agent!.node === process.version && r.facts!.node!.path === "/var/lib/skiff/node/bin/node" && r.warnings.length === 0));
    assert.ok(rows.every((r) => r.facts!.disk.inodesFree > 0 && r.facts!.disk.inodesFree <= r.facts!.disk.inodesTotal));
  });

  it("machines check warns when inodes run low, with bytes to spare", async () => {
    const m1 = bed.machines[0]!;
    const total = Number(await faults.exec(m1, "df -Pi /var/lib/skiff | awk 'NR==2 {print $2}'"));
    const free = Number(await faults.exec(m1, "df -Pi /var/lib/skiff | awk 'NR==2 {print $4}'"));
    // Empty files take inodes and no blocks: leave ~2,000 free.
    await faults.exec(m1, `mkdir -p /var/lib/skiff/.inode-fill && cd /var/lib/skiff/.inode-fill && seq 1 ${free - 2000} | xargs touch`);
    try {
      const r = await p.skiff(["machines", "check", "m1"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, new RegExp(`^m1: warning: low on inodes \\(files\\): 1,9\\d\\d of ${total.toLocaleString("en")} free \\(3 %\\) under /var/lib/skiff — a deploy may fail with "No space left on device"; prune old releases \\(lower keep_releases\\) or grow the disk$`, "m"));
      assert.doesNotMatch(r.stderr, /low on disk space/);
      const j = JSON.parse((await p.skiff(["--json", "machines", "check", "m1"])).stdout) as CheckRow[];
      assert.equal(j[0]!.warnings.length, 1);
    } finally {
      await faults.exec(m1, "rm -rf /var/lib/skiff/.inode-fill");
    }
  });

  it("a runtime that is no Linux binary is refused before anything is copied; one that does not start is refused on the machine, nothing changed", async () => {
    const dir = mkdtempSync(join(tmpdir(), "skiff-node-"));
    writeFileSync(join(dir, "node"), "#!/bin/sh\necho v99.0.0\n");
    const m3 = bed.machines[2]!;
    const before = await faults.exec(m3, "cat /var/lib/skiff/node/sha256; /usr/local/bin/skiff-agent call version");
    process.env.SKIFF_AGENT_NODE = join(dir, "node");
    process.env.XDG_CACHE_HOME = dir; // these runtimes' facts and gzip stay out of the user's cache
    try {
      const r = await p.skiff(["setup", "m3"]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^m3: cannot set up: the agent's Node runtime .*node cannot run on a Linux machine: not an ELF executable \(not built for Linux\): set SKIFF_AGENT_NODE to a Linux Node binary/m);
      // A real ELF file of the right CPU that is not Node: shipped, checked by running it, refused there.
      process.env.SKIFF_AGENT_NODE = "/bin/sh";
      const s = await p.skiff(["setup", "m3"]);
      assert.equal(s.code, 1);
      assert.match(s.stderr, /m3: setup failed/);
      assert.match(s.stderr, /the Node runtime does not start on this machine/);
    } finally {
      delete process.env.SKIFF_AGENT_NODE;
      delete process.env.XDG_CACHE_HOME;
    }
    assert.equal(await faults.exec(m3, "cat /var/lib/skiff/node/sha256; /usr/local/bin/skiff-agent call version"), before);
    assert.equal(await faults.exec(m3, "ls /var/lib/skiff/node/bin"), "node");
  });

  it("the agent restarts itself when killed, and comes back after a machine restart", async () => {
    const m1 = bed.machines[0]!;
    const before = await faults.exec(m1, "/usr/local/bin/skiff-agent call version");
    await faults.exec(m1, `kill -KILL ${JSON.parse(before).pid}`);
    let after = "";
    for (let i = 0; i < 50 && !after; i++) {
      after = await faults.exec(m1, "/usr/local/bin/skiff-agent call version 2>/dev/null || true");
      if (!after) await new Promise((r) => setTimeout(r, 200));
    }
    assert.notEqual(after, "");
    assert.notEqual(JSON.parse(after).pid, JSON.parse(before).pid);

    await faults.restart(m1);
    const r = await p.skiff(["--json", "machines", "check", "m1"], { socketDir: freshSocketDir() });
    assert.equal((JSON.parse(r.stdout) as CheckRow[])[0]!.facts?.agent?.sha256, AGENT_SHA);
  });

  it("an unreachable machine is named, with the ssh failure, and the others still answer", async () => {
    const m3 = bed.machines[2]!;
    await faults.disconnect(m3);
    try {
      const r = await p.skiff(["machines", "check"], { socketDir: freshSocketDir() });
      assert.equal(r.code, 1);
      assert.match(r.stdout, /^m1\s+yes/m);
      assert.match(r.stdout, /^m3\s+no/m);
      assert.match(r.stderr, /m3: read machine facts failed \(exit 255: ssh itself failed/);
    } finally {
      await faults.reconnect(m3);
    }
  });

  it("a changed host key is refused with a clear message, and nothing runs there", async () => {
    const m2 = bed.machines[1]!;
    await faults.rekey(m2);
    const sockets = freshSocketDir(); // a shared connection would still be to the old, verified host
    const check = await p.skiff(["machines", "check", "m2"], { socketDir: sockets });
    assert.equal(check.code, 1);
    assert.match(check.stderr, /│ Host key for \[127\.0\.0\.1\]:2202 has changed and you have requested strict checking\./);
    assert.match(check.stderr, /hint: the host key of "m2" differs from the one recorded in \.skiff\/known_hosts; this can be an attack\. .*`skiff machines trust m2 --replace`/);

    const setup = await p.skiff(["setup", "m2"], { socketDir: sockets });
    assert.equal(setup.code, 1);
    assert.match(setup.stderr, /m2: setup failed/);

    const trust = await p.skiff(["machines", "trust", "m2", "--yes"], { socketDir: sockets });
    assert.equal(trust.code, 1);
    assert.match(trust.stderr, /m2: HOST KEY CHANGED for \[127\.0\.0\.1\]:2202/);

    const replace = await p.skiff(["machines", "trust", "m2", "--replace", "--yes"], { socketDir: sockets });
    assert.equal(replace.code, 0, replace.stderr);
    assert.match(replace.stdout, /^m2: replaced SHA256:/m);
    const ok = await p.skiff(["machines", "check", "m2"], { socketDir: sockets });
    assert.equal(ok.code, 0, ok.stderr);
  });
});
