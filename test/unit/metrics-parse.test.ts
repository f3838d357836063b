// The sampler's parsers on captured text: /proc (stat, meminfo, loadavg,
// net/dev), cgroup files (v1 and v2 trees made in a temp dir), and HAProxy
// 2.6's real `show stat` (fixtures/: captured from Debian's haproxy with a
// backend of one UP, one DOWN and one MAINT server after 20 × 200 and 1 × 404).
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { appSeries, parseShowStat, type StatRow } from "../../src/metrics/haproxy-stat.ts";
import { machineSeries, parseCpu, parseLoadavg, parseMeminfo, parseNetDev } from "../../src/metrics/proc.ts";
import { cgroupDirsFromProc, cgroupFiles, cgroupUsage, readCgroup, statField } from "../../src/runtime/cgroup-stats.ts";
import type { Series } from "../../src/metrics/catalogue.ts";

const STAT = `cpu  4946549 107516 2928762 2736879 45588 0 167346 12 0 0
cpu0 2465574 53433 1454671 1395723 19435 0 77380 6 0 0
cpu1 2480975 54082 1474090 1341155 26153 0 89966 6 0 0
intr 1 2 3
`;
const MEMINFO = `MemTotal:       24684072 kB
MemFree:        21204000 kB
MemAvailable:   23700000 kB
Buffers:          100 kB
`;
const NETDEV = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo: 17520356930 12680201    0    0    0     0          0         0 17520356930 12680201    0    0    0     0       0          0
  eth0: 1000 10 0 0 0 0 0 0 2000 20 0 0 0 0 0 0
vethab12: 5 1 0 0 0 0 0 0 6 1 0 0 0 0 0 0
docker0: 300 3 0 0 0 0 0 0 400 4 0 0 0 0 0 0
`;

const value = (xs: Series[], name: string, labels: Record<string, string> = {}) =>
  xs.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;

describe("/proc", () => {
  it("cpu: seconds per mode from USER_HZ ticks (nice counted as user; irq, softirq, steal as other)", () => {
    const c = parseCpu(STAT);
    assert.equal(c.cpus, 2);
    assert.deepEqual(c.seconds, { user: (4946549 + 107516) / 100, system: 29287.62, idle: 27368.79, iowait: 455.88, other: (167346 + 12) / 100 });
  });
  it("meminfo, loadavg", () => {
    assert.deepEqual(parseMeminfo(MEMINFO), { totalBytes: 24684072 * 1024, availableBytes: 23700000 * 1024 });
    assert.deepEqual(parseLoadavg("11.17 9.58 6.26 6/532 7161\n"), [11.17, 9.58, 6.26]);
    assert.throws(() => parseLoadavg("garbage"), /loadavg/);
    assert.throws(() => parseMeminfo("MemTotal: 1 kB\n"), /MemAvailable/);
  });
  it("net/dev: bytes in and out per device, without loopback and veth pairs", () => {
    assert.deepEqual(parseNetDev(NETDEV), [
      { device: "eth0", rxBytes: 1000, txBytes: 2000 },
      { device: "docker0", rxBytes: 300, txBytes: 400 },
    ]);
  });
  it("machineSeries: every metric with the machine label; a file that fails leaves only its own metrics out", () => {
    const files: Record<string, string> = { "/proc/stat": STAT, "/proc/meminfo": MEMINFO, "/proc/net/dev": NETDEV };
    const src = { read: (p: string) => files[p] ?? (() => { throw new Error(`ENOENT ${p}`); })(), disk: (path: string) => ({ path, totalBytes: 1000, freeBytes: 250, inodes: 64, inodesFree: 60 }) };
    const xs = machineSeries("m1", ["/", "/var/lib/skiff"], src);
    assert.ok(xs.every((s) => s.labels.machine === "m1"));
    assert.equal(value(xs, "skiff_machine_cpus"), 2);
    assert.equal(value(xs, "skiff_machine_load1"), undefined, "no /proc/loadavg: no load");
    assert.equal(value(xs, "skiff_machine_memory_available_bytes"), 23700000 * 1024);
    assert.equal(value(xs, "skiff_machine_disk_free_bytes", { path: "/var/lib/skiff" }), 250);
    assert.equal(value(xs, "skiff_machine_disk_inodes_free", { path: "/" }), 60);
    assert.equal(value(xs, "skiff_machine_network_transmit_bytes_total", { device: "eth0" }), 2000);
  });
  it("reads this machine's real files", () => {
    const xs = machineSeries("here", ["/"]);
    for (const n of ["skiff_machine_cpus", "skiff_machine_load1", "skiff_machine_memory_total_bytes", "skiff_machine_disk_total_bytes", "skiff_machine_disk_inodes"]) assert.ok((value(xs, n) ?? 0) > 0, n);
  });
});

describe("cgroup files", () => {
  it("/proc/<pid>/cgroup → the group's directories that exist (v1 joined or apart, v2)", () => {
    const root = mkdtempSync(join(tmpdir(), "cg-"));
    for (const d of ["memory/docker/abc", "cpuacct/docker/abc", "cpu/docker/abc"]) mkdirSync(join(root, d), { recursive: true });
    const v1 = "12:pids:/docker/abc\n4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n1:name=systemd:/docker/abc\n";
    assert.deepEqual(cgroupDirsFromProc(v1, root), [join(root, "memory/docker/abc"), join(root, "cpu/docker/abc"), join(root, "cpuacct/docker/abc")]);
    mkdirSync(join(root, "skiff/inst"), { recursive: true });
    assert.deepEqual(cgroupDirsFromProc("0::/skiff/inst\n", root), [join(root, "skiff/inst")]);
  });
  it("v1: cpuacct ns, memory without inactive file cache, the limit, OOM kills; 'no limit' is no limit", () => {
    const root = mkdtempSync(join(tmpdir(), "cg1-"));
    const mem = join(root, "memory");
    const acct = join(root, "cpuacct");
    mkdirSync(mem);
    mkdirSync(acct);
    writeFileSync(join(acct, "cpuacct.usage"), "2500000000\n");
    writeFileSync(join(mem, "memory.usage_in_bytes"), "10485760\n");
    writeFileSync(join(mem, "memory.stat"), "cache 100\nrss 200\ntotal_inactive_file 2097152\n");
    writeFileSync(join(mem, "memory.limit_in_bytes"), "67108864\n");
    writeFileSync(join(mem, "memory.oom_control"), "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
    assert.deepEqual(cgroupUsage([mem, acct]), { cpuSeconds: 2.5, memoryBytes: 8 * 2 ** 20, memoryLimitBytes: 64 * 2 ** 20, oomKills: 2 });
    writeFileSync(join(mem, "memory.limit_in_bytes"), "9223372036854771712\n");
    assert.equal(cgroupUsage([mem]).memoryLimitBytes, undefined);
  });
  it("v2: cpu.stat usage_usec, memory.current less inactive_file, memory.max, memory.events", () => {
    const d = mkdtempSync(join(tmpdir(), "cg2-"));
    writeFileSync(join(d, "cpu.stat"), "usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\n");
    writeFileSync(join(d, "memory.current"), "3000000\n");
    writeFileSync(join(d, "memory.stat"), "anon 1\ninactive_file 1000000\n");
    writeFileSync(join(d, "memory.max"), "max\n");
    writeFileSync(join(d, "memory.events"), "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n");
    assert.deepEqual(cgroupUsage([d]), { cpuSeconds: 1.5, memoryBytes: 2000000, memoryLimitBytes: undefined, oomKills: 1 });
  });
});

describe("cgroup files, found once", () => {
  it("a v1 memory group alone (process instances without a CPU limit): its usage, stat, limit and oom_control, no CPU file", () => {
    const mem = join(mkdtempSync(join(tmpdir(), "cg1-")), "memory");
    mkdirSync(mem);
    writeFileSync(join(mem, "memory.usage_in_bytes"), "10485760\n");
    writeFileSync(join(mem, "memory.stat"), "cache 100\ninactive_file 7\ntotal_inactive_file 2097152\n");
    writeFileSync(join(mem, "memory.limit_in_bytes"), "9223372036854771712\n");
    writeFileSync(join(mem, "memory.oom_control"), "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n");
    const files = cgroupFiles([mem]);
    assert.deepEqual(files, {
      memory: { usage: join(mem, "memory.usage_in_bytes"), stat: join(mem, "memory.stat"), inactive: "total_inactive_file", limit: join(mem, "memory.limit_in_bytes") },
      oom: [join(mem, "memory.oom_control")],
    });
    assert.deepEqual(readCgroup(files), { memoryBytes: 8 * 2 ** 20, memoryLimitBytes: undefined, oomKills: 0 });
    writeFileSync(join(mem, "memory.oom_control"), "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n");
    assert.equal(readCgroup(files).oomKills, 1, "read again each time");
    rmSync(mem, { recursive: true });
    assert.deepEqual(readCgroup(files), {}, "the group went away: its numbers are left out");
  });
  it("statField: a whole key at a line's start, digits only", () => {
    const text = "cache 100\ninactive_file 5\ntotal_inactive_file 2097152\nx 1";
    assert.deepEqual(["cache", "inactive_file", "total_inactive_file", "x", "active_file", "ache"].map((k) => statField(text, k)), [100, 5, 2097152, 1, undefined, undefined]);
    assert.equal(statField("a 1x\n", "a"), undefined);
    assert.equal(statField("", "a"), undefined);
  });
});

describe("HAProxy show stat", () => {
  const csv = readFileSync(new URL("fixtures/haproxy-2.6-show-stat.csv", import.meta.url), "utf8");
  const apps = new Map([["skiff_shop_web", { project: "shop", app: "web" }]]);

  it("parses the header and every row", () => {
    const rows = parseShowStat(csv);
    assert.equal(rows.length, 7);
    assert.equal(rows.find((r) => r.pxname === "skiff_shop_web" && r.svname === "BACKEND")?.req_tot, "21");
    assert.throws(() => parseShowStat("Unknown command\n"), /header/);
  });

  it("the app's series from its backend: requests, status classes, times in seconds, servers up, check failures; other backends skipped", () => {
    const xs = appSeries(parseShowStat(csv), apps, "m1");
    assert.ok(xs.every((s) => s.labels.project === "shop" && s.labels.app === "web" && s.labels.machine === "m1"));
    assert.equal(value(xs, "skiff_app_http_requests_total"), 21);
    assert.equal(value(xs, "skiff_app_http_responses_total", { code: "2xx" }), 20);
    assert.equal(value(xs, "skiff_app_http_responses_total", { code: "4xx" }), 1);
    assert.equal(value(xs, "skiff_app_http_responses_total", { code: "5xx" }), 0);
    assert.equal(value(xs, "skiff_app_servers_up"), 1, "s1 UP, s2 DOWN, s3 MAINT");
    assert.equal(value(xs, "skiff_app_check_failures_total"), 2, "chkfail of s1 and s2");
    assert.equal(value(xs, "skiff_app_response_time_seconds", { kind: "response" }), 0.004);
    assert.equal(value(xs, "skiff_app_response_time_seconds", { kind: "total" }), 0.008);
    assert.equal(value(xs, "skiff_app_response_time_max_seconds", { kind: "response" }), 0.019);
    assert.equal(value(xs, "skiff_app_queue"), 0);
    assert.equal(value(xs, "skiff_app_retries_total"), 0);
  });

  it("what the backend handed to other machines (peer slots pN, qN: the mesh) is theirs to count: left out here, counted as forwarded", () => {
    const rows: StatRow[] = [
      { pxname: "skiff_shop_web", svname: "BACKEND", req_tot: "30", hrsp_2xx: "28", hrsp_5xx: "2" },
      { pxname: "skiff_shop_web", svname: "s1", stot: "18", hrsp_2xx: "17", hrsp_5xx: "1", status: "UP" },
      { pxname: "skiff_shop_web", svname: "p1", stot: "10", hrsp_2xx: "10", hrsp_5xx: "0", status: "UP" },
      { pxname: "skiff_shop_web", svname: "q1", stot: "2", hrsp_2xx: "1", hrsp_5xx: "1", status: "UP" },
    ];
    const xs = appSeries(rows, apps, "m3");
    assert.equal(value(xs, "skiff_app_http_requests_total"), 18);
    assert.equal(value(xs, "skiff_app_http_responses_total", { code: "2xx" }), 17);
    assert.equal(value(xs, "skiff_app_http_responses_total", { code: "5xx" }), 1);
    assert.equal(value(xs, "skiff_app_forwarded_requests_total"), 12);
    assert.equal(value(appSeries(rows.filter((r) => !/^[pq]/.test(r.svname ?? "")), apps, "m3"), "skiff_app_forwarded_requests_total"), undefined, "no peer slots: no forwarded series");
  });

  it("lines split only as far as their used columns give what splitting every field gives (a number per field)", () => {
    // HAProxy 2.6's header; each field of each line a number of its own, so a column read from the wrong place shows.
    const header = csv.split("\n")[0]!;
    const names = header.slice(2).split(",");
    const line = (r: number, px: string, sv: string) => names.map((c, i) => (i === 0 ? px : i === 1 ? sv : c === "status" ? (r % 2 ? "UP" : "MAINT") : String(r * 1000 + i))).join(",");
    const rows = [["public", "FRONTEND"], ["skiff_shop_web", "s1"], ["skiff_shop_web", "s2"], ["skiff_shop_web", "p1"], ["skiff_shop_web", "q3"], ["skiff_shop_web", "b1"], ["skiff_shop_web", "BACKEND"], ["skiff_shop_api", "s1"], ["skiff_shop_api", "BACKEND"]];
    const text = [header, ...rows.map(([px, sv], r) => line(r + 1, px!, sv!)), ""].join("\n");
    // What the parser did before it split lines short: every field of every line.
    const everyField = text.split("\n").slice(1).filter((l) => l).map((l) => Object.fromEntries(l.split(",").map((v, i) => [names[i], v])));
    const two = new Map([...apps, ["skiff_shop_api", { project: "shop", app: "api" }]]);
    const xs = appSeries(parseShowStat(text, (px) => two.has(px)), two, "m1");
    assert.deepEqual(xs, appSeries(everyField, two, "m1"));
    assert.equal(value(xs, "skiff_app_forwarded_requests_total", { app: "web" }), 4000 + names.indexOf("stot") + 5000 + names.indexOf("stot"), "stot of p1 and q3");
    assert.equal(value(xs, "skiff_app_response_time_max_seconds", { app: "web", kind: "total" }), (7000 + names.indexOf("ttime_max")) / 1000);
    assert.equal(xs.filter((x) => x.labels.app === "api").length, xs.filter((x) => x.labels.app === "web").length - 1, "no peer slots for api: no forwarded series");
  });

  it("without req_tot (a TCP backend has no HTTP counters) requests are not invented", () => {
    const rows = [{ pxname: "skiff_shop_web", svname: "BACKEND", scur: "3", req_tot: "" }];
    const xs = appSeries(rows, apps, "m1");
    assert.equal(value(xs, "skiff_app_http_requests_total"), undefined);
    assert.equal(value(xs, "skiff_app_connections"), 3);
  });
});
