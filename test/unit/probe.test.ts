import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { describe, it } from "node:test";
import { parseFacts, PROBE_SCRIPT } from "../../src/machines/probe.ts";

describe("machine probe", () => {
  it("parses the probe's key=value output", () => {
    const f = parseFacts(
      [
        "os_id=ubuntu", "os_like=debian", "os_version=24.04", "os_name=Ubuntu 24.04 LTS", "arch=aarch64", "init=systemd", "uid=0", "apt=yes", "systemctl=yes",
        "docker_client=24.0.7", "docker_server=", "haproxy=2.8.5-1ubuntu3", "node=v18.19.1", "node_path=/usr/bin/node",
        "glibc=2.39", "glibcxx=3.4.33", "node_runtime_sha=n0de",
        "agent_sha=abc", "agent_bin_sha=", "unit_sha=def", "init_sha=", "state_dir=yes",
        'agent_info={"version":"0.1.0","sha256":"abc","node":"v18.19.1","pid":42,"startedAt":"2026-01-01T00:00:00.000Z"}',
        "disk_free_kb=1048576", "disk_total_kb=2097152", "inodes_free=1200", "inodes_total=65536", "mem_total_kb=4000000", "mem_avail_kb=3000000", "cpus=4",
      ].join("\n"),
    );
    assert.deepEqual(f, {
      os: { id: "ubuntu", like: ["debian"], version: "24.04", name: "Ubuntu 24.04 LTS" },
      arch: "aarch64",
      systemd: true,
      root: true,
      apt: true,
      docker: { client: "24.0.7", server: undefined },
      haproxy: "2.8.5-1ubuntu3",
      node: { version: "v18.19.1", major: 18, path: "/usr/bin/node" },
      libc: { glibc: "2.39", glibcxx: "3.4.33" },
      sha: { agent: "abc", agentBin: undefined, acme: undefined, unit: "def", init: undefined, node: "n0de" },
      stateDir: true,
      agent: { version: "0.1.0", sha256: "abc", node: "v18.19.1", pid: 42, startedAt: "2026-01-01T00:00:00.000Z" },
      disk: { freeKb: 1048576, totalKb: 2097152, inodesFree: 1200, inodesTotal: 65536 },
      memory: { totalKb: 4000000, availKb: 3000000 },
      cpus: 4,
    });
  });

  it("the probe script runs under a POSIX sh and reports this machine", () => {
    const res = spawnSync("sh", ["-s"], { input: PROBE_SCRIPT, encoding: "utf8" });
    assert.equal(res.status, 0, res.stderr);
    const f = parseFacts(res.stdout);
    assert.equal(f.arch, spawnSync("uname", ["-m"], { encoding: "utf8" }).stdout.trim());
    assert.equal(f.node?.major, Number(process.versions.node.split(".")[0]));
    assert.ok(f.memory.totalKb > 0 && f.disk.totalKb > 0);
    const df = spawnSync("df", ["-Pi", "/"], { encoding: "utf8" }).stdout.split("\n")[1]!.trim().split(/\s+/);
    if (!existsSync("/var/lib/skiff")) assert.equal(f.disk.inodesTotal, Number(df[1]));
    // glibc as getconf says it, and libstdc++'s newest symbol version when the library is installed (apt needs it).
    assert.equal(f.libc?.glibc, spawnSync("getconf", ["GNU_LIBC_VERSION"], { encoding: "utf8" }).stdout.trim().replace(/^glibc /, ""));
    assert.match(f.libc?.glibcxx ?? "", /^3\.4\.\d+$/);
  });
});
