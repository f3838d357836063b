// `skiff logs` on three bed machines (ports 8104–8105): --grep returns exactly
// the lines the instances printed that match, in time order, labelled with
// the machine, release and instance that printed them (checked against each
// instance's own out.log on its machine), and HAProxy's request lines name
// the same instance; -f sees a deploy's new release join; a 200 MB flood per
// machine, made on the machines, leaves the app's logs within their bound; a
// failed deploy's output (process and container) stays readable after it.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { faults, up, type Bed, type BedMachine } from "../../testbed/bed.ts";
import { makeProject, type Project } from "./helpers.ts";

const HELLO_NODE = new URL("../../examples/hello-node", import.meta.url).pathname;
const HELLO = new URL("../../examples/hello", import.meta.url).pathname;
const PORT = 8104;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Line {
  time: string;
  machine: string;
  app: string;
  kind: string;
  release: number | null;
  instance: string | null;
  text: string;
}

describe("skiff logs on the bed", { timeout: 900_000 }, () => {
  let bed: Bed;
  let p: Project;
  const run = Date.now().toString(36);
  const write = (version: string, extra = "") =>
    writeFileSync(
      join(p.dir, "skiff.yml"),
      `project: logs
machines:
${bed.machines.map((m) => `  ${m.name}: { host: 127.0.0.1, port: ${m.sshPort}, private_address: ${m.address}, http_port: ${PORT}, ssh: { identity_file: ${bed.identityFile} } }`).join("\n")}
apps:
  web:
    run: node server.js
    artifact: ${HELLO_NODE}
    instances: 6
    env: { VERSION: ${version}${extra} }
    routes: [{ path: / }]
    health: { interval: 200ms, deadline: 10s }
    deploy: { probation: 1s, drain_timeout: 2s }
    logs: { max_size: 20M }
  dock:
    build: { context: ${HELLO} }
    instances: 3
    env: { CRASH_AT_BOOT: "1" }
    routes: [{ host: dock.test, path: / }]
    health: { deadline: 5s }
`,
    );
  const logs = async (args: string[]): Promise<Line[]> => {
    const r = await p.skiff(["--json", "logs", ...args]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.split("\n").filter(Boolean).map((l) => JSON.parse(l) as Line);
  };
  /** Asks until `want` lines come back (the agents copy what instances print every half second). */
  async function logsUntil(args: string[], want: number, tries = 40): Promise<Line[]> {
    let got: Line[] = [];
    for (let i = 0; i < tries && got.length < want; i++) {
      if (i) await sleep(500);
      got = await logs(args);
    }
    return got;
  }
  const sorted = (ls: Line[]) => ls.every((l, i) => i === 0 || ls[i - 1]!.time <= l.time);
  /** Asks one machine's HAProxy to have an instance print a line; returns the instance that printed it. */
  async function print(m: BedMachine, line: string, stream = "out"): Promise<string> {
    const out = await faults.exec(m, `curl -sf 'http://127.0.0.1:${PORT}/print?line=${line}&stream=${stream}'`);
    return /printed by (\S+)/.exec(out)![1]!;
  }

  before(async () => {
    bed = await up({ count: 3, log: (s) => console.error(`bed: ${s}`) });
    p = makeProject();
    write("v1");
    for (const args of [["machines", "trust", "--yes"], ["setup"], ["deploy", "web"]]) {
      const r = await p.skiff(args);
      assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
    }
  });
  after(async () => {
    await p?.skiff(["remove", "web", "dock", "--yes"]);
  });

  it("--grep across 3 machines returns exactly the matching lines, in time order, as each instance printed them", async () => {
    const sent: { machine: string; instance: string; text: string }[] = [];
    for (let k = 0; k < 8; k++) {
      for (const m of bed.machines) {
        const text = `MARK-${run}-${m.name}-${k}`;
        sent.push({ machine: m.name, instance: await print(m, text, k % 3 === 2 ? "err" : "out"), text });
        await print(m, `NOISE-${run}-${m.name}-${k}`);
      }
    }
    const got = await logsUntil(["web", "--grep", `^MARK-${run}-`], sent.length);
    assert.equal(got.length, sent.length, JSON.stringify(got.slice(0, 3)));
    assert.ok(sorted(got), "in time order");
    const key = (x: { machine: string; instance: string | null; text: string }) => `${x.machine} ${x.instance} ${x.text}`;
    assert.deepEqual(got.map(key).sort(), sent.map(key).sort());
    assert.ok(got.every((l) => l.app === "web" && l.kind === "out" && l.release === got[0]!.release));
    // What each instance printed, read from its own out.log on its machine: the same lines, in the same order.
    for (const m of bed.machines) {
      const raw = await faults.exec(m, `cd /var/lib/skiff/instances && grep -H '^MARK-${run}-' skiff-logs-web-*/out.log || true`);
      const printed = raw.split("\n").filter(Boolean).map((l) => ({ instance: l.slice(0, l.indexOf("/")), text: l.slice(l.indexOf(":") + 1) }));
      const mine = got.filter((l) => l.machine === m.name);
      assert.deepEqual(mine.map((l) => `${l.instance} ${l.text}`).sort(), printed.map((l) => `${l.instance} ${l.text}`).sort(), m.name);
      for (const inst of new Set(printed.map((x) => x.instance))) {
        assert.deepEqual(mine.filter((l) => l.instance === inst).map((l) => l.text), printed.filter((x) => x.instance === inst).map((x) => x.text), `${m.name} ${inst}: in the order printed`);
      }
    }
    // One machine only, and the last 3 of all.
    assert.deepEqual((await logs(["web", "--grep", `^MARK-${run}-`, "--machine", "m2"])).map(key), got.filter((l) => l.machine === "m2").map(key));
    assert.deepEqual((await logs(["web", "--grep", `^MARK-${run}-`, "-n", "3"])).map(key), got.slice(-3).map(key));
    // HAProxy's access log: each /print request, answered by the instance that printed the line.
    const reqs = await logsUntil(["web", "--requests", "--grep", `MARK-${run}-`], sent.length);
    assert.equal(reqs.length, sent.length);
    assert.ok(sorted(reqs));
    for (const s of sent) {
      const r = reqs.find((x) => x.text.includes(`line=${s.text}&`))!;
      assert.ok(r, s.text);
      assert.match(r.text, /^200 \d+ \d+\/\d+\/\d+\/\d+\/\d+ \S+ "GET \/print\?line=/);
      assert.equal(`${r.machine} ${r.instance}`, `${s.machine} ${s.instance}`);
    }
    // Plain text names machine, app@release and the instance's id.
    const plain = await p.skiff(["logs", "web", "--grep", `^MARK-${run}-m1-0$`]);
    assert.match(plain.stdout, new RegExp(`^\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z m1 web@\\d+ [0-9a-f]{6} \\| MARK-${run}-m1-0\\n$`));
  });

  it("says what is wrong with a bad regex, an unknown app or a bad --since", async () => {
    for (const [args, msg] of [
      [["logs", "web", "--grep", "a(b"], /--grep "a\(b": .*\n.*hint: .*backslash/],
      [["logs", "wbe"], /no app "wbe".*\n.*did you mean "web"/],
      [["logs", "web", "--since", "yesterday"], /--since "yesterday": not a time\n.*hint: .*90s, 15m, 1h/],
    ] as const) {
      const r = await p.skiff([...args]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, msg);
      assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
    }
  });

  it("--agent shows each machine's agent log", async () => {
    const lines = await logs(["--agent", "--grep", "agent .* listening on /run/skiff/agent.sock"]);
    assert.ok(lines.length > 0 && lines.every((l) => l.kind === "agent" && l.app === "agent"));
    // Every machine's agent started at least once since its log was first copied.
    assert.deepEqual(new Set(lines.map((l) => l.machine)), new Set(bed.machines.map((m) => m.name)));
    assert.ok(lines.every((l) => / skiff-agent\[\d+\] agent /.test(l.text)));
  });

  it("-f follows, and a deploy's new release joins while it runs", async () => {
    const f = p.start(["logs", "web", "-f", "--grep", `FOLLOW-${run}|listening`]);
    let r;
    try {
      await sleep(2500);
      await print(bed.machines[0]!, `FOLLOW-${run}-before`);
      write("v2");
      const d = await p.skiff(["deploy", "web"]);
      assert.equal(d.code, 0, d.stderr);
      await print(bed.machines[1]!, `FOLLOW-${run}-after`);
      await sleep(2500);
    } finally {
      process.kill(f.pid, "SIGTERM");
      r = await f.done;
    }
    assert.equal(r.code, 0, r.stderr);
    const stdout = () => r.stdout;
    const lines = stdout().split("\n").filter(Boolean);
    const before = lines.find((l) => l.includes(`FOLLOW-${run}-before`));
    const afterLine = lines.find((l) => l.includes(`FOLLOW-${run}-after`));
    assert.ok(before && afterLine, stdout());
    const rel = (l: string) => Number(/ web@(\d+) /.exec(l)![1]);
    assert.equal(rel(afterLine), rel(before) + 1, "the line after the deploy comes from the new release");
    // The new release's instances joined as they started: their "listening" lines, on every machine.
    const started = lines.filter((l) => l.includes("hello-node[v2] listening"));
    assert.equal(new Set(started.map((l) => l.split(" ")[1])).size, 3, stdout());
    assert.ok(started.every((l) => rel(l) === rel(afterLine)));
  });

  it("a failed deploy's output stays readable after its instances are gone (process and container)", async () => {
    write("v3", ", CRASH_AT_BOOT: '1'");
    const d = await p.skiff(["deploy", "web"]);
    assert.notEqual(d.code, 0, "the deploy fails");
    const crashed = await logsUntil(["web", "--grep", "CRASH_AT_BOOT=1"], 1);
    assert.ok(crashed.length >= 1);
    assert.ok(crashed.every((l) => l.text.includes("hello-node[v3] CRASH_AT_BOOT=1: exiting before listening") && l.instance?.startsWith("skiff-logs-web-")));
    // Its instances are gone: nothing of v3 runs anywhere.
    const ls = await faults.exec(bed.machines[0]!, "grep -l 'VERSION=.v3' /var/lib/skiff/instances/*/env.sh 2>/dev/null || true");
    assert.equal(ls.trim(), "");
    // A container that crashes at boot (the app's first release: it is removed from the machine after the failure).
    const dd = await p.skiff(["deploy", "dock"]);
    assert.notEqual(dd.code, 0, "the dock deploy fails");
    const dock = await logsUntil(["dock", "--grep", "CRASH_AT_BOOT"], 1);
    assert.ok(dock.length >= 1, "the container's last lines are kept");
    assert.ok(dock.every((l) => l.app === "dock" && l.instance?.startsWith("skiff-logs-dock-") && /CRASH_AT_BOOT/.test(l.text)));
    write("v2");
  });

  it("a 200 MB flood per machine, made on the machines, leaves the app's logs within their bound", async () => {
    const bound = 20 * 1024 * 1024;
    // Appended to one instance's out.log on each machine (as if the app printed it), 10 MB at a time.
    const flood = [
      "set -e",
      "f=$(ls -d /var/lib/skiff/instances/skiff-logs-web-*/ | head -1)out.log",
      "i=0; while [ $i -lt 20 ]; do",
      `  yes "BULK-${run} $i ........................................................................................" | head -c 10485760 >> "$f"`,
      "  i=$((i+1)); sleep 1",
      "done",
      // head -c cut the last line short: the marker goes on a line of its own.
      `printf '\\nBULK-END-%s\\n' ${run} >> "$f"`,
    ].join("\n");
    const t0 = Date.now();
    await Promise.all(bed.machines.map((m) => faults.exec(m, flood)));
    const end = await logsUntil(["web", "--grep", `^BULK-END-${run}$`, "--since", "10m"], 3, 180);
    console.error(`flood: 3 × 200 MB appended and filed in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    assert.equal(end.length, 3, "the newest lines are there on every machine");
    for (const m of bed.machines) {
      const size = Number((await faults.exec(m, "find /var/lib/skiff/logs/logs/web -name '*.log' -printf '%s\\n' | awk '{s+=$1} END {print s}'")).trim());
      console.error(`${m.name}: logs/web ${(size / 1048576).toFixed(1)} MiB (bound 20 MiB)`);
      assert.ok(size <= bound, `${m.name}: ${size} bytes`);
    }
    // The oldest of the flood went first.
    assert.equal((await logs(["web", "--grep", `^BULK-${run} 0 `, "-n", "1"])).length, 0);
  });
});
