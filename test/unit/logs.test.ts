// The pure and file-level parts of logs: the k-way merge, time parsing and
// query checks, the bound (which segments go), the kept files with their
// rotation, the reader's filters, tails and cursors, the collector's copy of a
// process instance's out.log, and the parsers of HAProxy's and Docker's lines.
import assert from "node:assert/strict";
import { appendFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { LogCollector } from "../../src/agent/log-collector.ts";
import { segmentsToPrune, segmentBytes } from "../../src/agent/log-bound.ts";
import { parseRequestLine } from "../../src/agent/log-requests.ts";
import { requiredText, scanLogs } from "../../src/agent/log-scan.ts";
import { LogStore } from "../../src/agent/log-store.ts";
import { Store } from "../../src/agent/store.ts";
import { parseLogLine, parseLogTime, planLogs } from "../../src/api/logs.ts";
import { parseRecord, recordText } from "../../src/contracts/logs.ts";
import { UserError } from "../../src/errors.ts";
import { lastN, mergeSorted, mergeSortedAsync } from "../../src/lib/merge-sorted.ts";
import { dockerSince, parseFrames } from "../../src/runtime/docker-logs.ts";
import { project } from "./plan-fixtures.ts";

const tmp = () => mkdtempSync(join(tmpdir(), "skiff-logs-"));
const T = (s: number) => new Date(Date.UTC(2026, 10, 30, 6, 0, 0) + s * 1000).toISOString();
const NOW = new Date("2026-11-30T08:00:00.000Z");

describe("k-way merge", () => {
  it("merges sorted sources into one sorted sequence, stable on ties", () => {
    const a = [{ t: "1", s: "a" }, { t: "3", s: "a" }, { t: "5", s: "a" }];
    const b = [{ t: "1", s: "b" }, { t: "2", s: "b" }, { t: "6", s: "b" }];
    const c: { t: string; s: string }[] = [];
    const out = [...mergeSorted([a, b, c], (x) => x.t)].map((x) => `${x.t}${x.s}`);
    assert.deepEqual(out, ["1a", "1b", "2b", "3a", "5a", "6b"]);
  });
  it("the async merge gives the same order", async () => {
    async function* gen(xs: string[]) {
      for (const x of xs) yield x;
    }
    const out: string[] = [];
    for await (const x of mergeSortedAsync([gen(["b", "d"]), gen(["a", "c", "e"]), gen([])], (x) => x)) out.push(x);
    assert.deepEqual(out, ["a", "b", "c", "d", "e"]);
  });
  it("lastN keeps the last n in order", () => {
    assert.deepEqual(lastN([1, 2, 3, 4, 5], 3), [3, 4, 5]);
    assert.deepEqual(lastN([1, 2], 3), [1, 2]);
    assert.deepEqual(lastN([1, 2], 0), []);
  });
});

describe("--since / --until and the query", () => {
  it("reads durations back from now and times", () => {
    assert.equal(parseLogTime("1h", NOW), "2026-11-30T07:00:00.000Z");
    assert.equal(parseLogTime("90s", NOW), "2026-11-30T07:58:30.000Z");
    assert.equal(parseLogTime("2d", NOW), "2026-11-28T08:00:00.000Z");
    assert.equal(parseLogTime("2026-11-30T06:00:00Z", NOW), "2026-11-30T06:00:00.000Z");
    assert.equal(parseLogTime("2026-11-30 06:00:00Z", NOW), "2026-11-30T06:00:00.000Z");
    assert.equal(parseLogTime("now", NOW), NOW.toISOString());
  });
  it("a bad time is a UserError naming the flag, with a hint", () => {
    for (const bad of ["yesterday", "1 hour", "-1h", "2026-13", ""]) {
      assert.throws(() => parseLogTime(bad, NOW, "--until"), (e: unknown) => e instanceof UserError && e.message.startsWith("--until") && /duration back from now/.test(e.hint ?? ""), bad);
    }
  });
  it("an unknown app, an unknown machine and a bad regex are UserErrors with hints", () => {
    const p = project();
    assert.throws(() => planLogs(p, { app: "wbe" }), (e: unknown) => e instanceof UserError && /no app "wbe"/.test(e.message) && /did you mean "web"/.test(e.hint ?? ""));
    assert.throws(() => planLogs(p, { machines: ["m3"] }), (e: unknown) => e instanceof UserError && /no machine "m3"/.test(e.message));
    assert.throws(() => planLogs(p, { grep: "a(b" }), (e: unknown) => e instanceof UserError && /--grep "a\(b"/.test(e.message) && /backslash/.test(e.hint ?? ""));
    assert.throws(() => planLogs(p, { since: "1h", until: "2h" }, NOW), (e: unknown) => e instanceof UserError && /after --until/.test(e.message));
  });
  it("tails 100 lines unless narrowed, 10 when following; kinds from the flags", () => {
    const p = project();
    assert.equal(planLogs(p, {}).query.tail, 100);
    assert.equal(planLogs(p, { follow: true }).query.tail, 10);
    assert.equal(planLogs(p, { grep: "x" }).query.tail, undefined);
    assert.equal(planLogs(p, { grep: "x", tail: 5 }).query.tail, 5);
    assert.deepEqual(planLogs(p, {}).query.kinds, ["out"]);
    assert.deepEqual(planLogs(p, { requests: true, agent: true }).query.kinds, ["req", "agent"]);
    assert.deepEqual(planLogs(p, { machines: ["m2"] }).machines, ["m2"]);
  });
});

describe("the bound", () => {
  it("prunes the oldest segments (by number, across kinds) until the rest fit, never the newest of a kind", () => {
    const segs = [
      { kind: "out", seq: 1, size: 40 },
      { kind: "req", seq: 2, size: 40 },
      { kind: "out", seq: 3, size: 40 },
      { kind: "req", seq: 4, size: 40 },
      { kind: "out", seq: 5, size: 10 },
    ];
    assert.deepEqual(segmentsToPrune(segs, 100).map((s) => s.seq), [1, 2]);
    assert.deepEqual(segmentsToPrune(segs, 1000), []);
    // Only the newest of each kind left: they stay, even over the bound.
    assert.deepEqual(segmentsToPrune(segs, 0).map((s) => s.seq), [1, 2, 3]);
    assert.equal(segmentBytes(50 * 1024 * 1024), 5 * 1024 * 1024);
    assert.equal(segmentBytes(1024), 256 * 1024);
  });
  it("an app written far past its bound stays under it, and keeps its newest lines", () => {
    const root = tmp();
    const bound = 4 * 1024 * 1024;
    const logs = new LogStore(root, () => bound);
    const line = "x".repeat(200);
    for (let i = 0; i < 400; i++) {
      logs.write("p", "web", "out", [{ time: T(i), release: 1, instance: "i1", lines: Array.from({ length: 200 }, (_, k) => `${i}-${k} ${line}`) }]);
      if (i % 2) logs.write("p", "web", "req", [{ time: T(i), release: null, instance: "s1", lines: [`req ${i}`] }]);
    }
    // ~16 MB written: the app's files stay within the bound (plus at most the segment being written).
    assert.ok(logs.size("p", "web") <= bound + segmentBytes(bound), `${logs.size("p", "web")} bytes`);
    const files = readdirSync(join(root, "p", "web"));
    assert.ok(files.some((f) => f.startsWith("req-")), "the requests' newest segment stays");
    const page = scanLogs(root, { project: "p", app: "web", kinds: ["out"], tail: 1 });
    assert.match(page.lines[0]!, /\t399-199 x+$/);
  });
});

function seed(root: string): void {
  const logs = new LogStore(root, () => 50 * 1024 * 1024);
  logs.write("p", "web", "out", [
    { time: T(1), release: 1, instance: "skiff-p-web-1-aaa", lines: ["boot one", "GET /a"] },
    { time: T(4), release: 2, instance: "skiff-p-web-2-bbb", lines: ["boot two"] },
  ]);
  logs.write("p", "api", "out", [
    { time: T(2), release: 7, instance: "skiff-p-api-7-ccc", lines: ["api up"] },
    { time: T(3), release: 7, instance: "skiff-p-api-7-ccc", lines: ["GET /b\twith a tab"] },
  ]);
  logs.write("p", "web", "req", [{ time: T(5), release: 2, instance: "skiff-p-web-2-bbb", lines: ['200 12 0/0/0/1/1 10.0.0.9 "GET /a HTTP/1.1"'] }]);
}

describe("reading the kept files", () => {
  it("merges the apps in time order and filters on the machine", () => {
    const root = tmp();
    seed(root);
    const all = scanLogs(root, { project: "p", kinds: ["out"] });
    assert.deepEqual(all.lines.map((l) => parseLogLine("m1", l)!.text), ["boot one", "GET /a", "api up", "GET /b\twith a tab", "boot two"]);
    assert.deepEqual(scanLogs(root, { project: "p", kinds: ["out"], grep: "^GET" }).lines.map((l) => parseLogLine("m1", l)!.app), ["web", "api"]);
    assert.deepEqual(scanLogs(root, { project: "p", kinds: ["out"], release: 7 }).lines.length, 2);
    assert.deepEqual(scanLogs(root, { project: "p", app: "web", kinds: ["out"], since: T(2), until: T(4) }).lines.map((l) => parseLogLine("m1", l)!.text), ["boot two"]);
    assert.deepEqual(scanLogs(root, { project: "p", kinds: ["out"], tail: 2 }).lines.map((l) => parseLogLine("m1", l)!.text), ["GET /b\twith a tab", "boot two"]);
    const req = scanLogs(root, { project: "p", app: "web", kinds: ["req"] }).lines.map((l) => parseLogLine("m1", l)!);
    assert.deepEqual(req.map((l) => [l.kind, l.release, l.instance]), [["req", 2, "skiff-p-web-2-bbb"]]);
    // Plain text takes the fast path (lines without it skipped unread): the same lines as the regex that says it.
    assert.deepEqual(scanLogs(root, { project: "p", kinds: ["out"], grep: "GET /" }).lines, scanLogs(root, { project: "p", kinds: ["out"], grep: "GET \\/" }).lines);
    assert.equal(scanLogs(root, { project: "p", kinds: ["out"], grep: "GET /" }).lines.length, 2);
    // The regex sees the text only, not the labels.
    assert.equal(scanLogs(root, { project: "p", kinds: ["out"], grep: "skiff-p" }).lines.length, 0);
  });
  it("a cursor gives only what came after it; pages follow one another without loss", () => {
    const root = tmp();
    seed(root);
    const first = scanLogs(root, { project: "p", kinds: ["out", "req"], tail: 1 });
    assert.equal(first.lines.length, 1);
    const logs = new LogStore(root, () => 50 * 1024 * 1024);
    logs.write("p", "web", "out", [{ time: T(9), release: 3, instance: "skiff-p-web-3-ddd", lines: ["new one"] }]);
    logs.write("p", "queue", "out", [{ time: T(10), release: 1, instance: "skiff-p-queue-1-eee", lines: ["a new app"] }]);
    const next = scanLogs(root, { project: "p", kinds: ["out", "req"], after: first.cursor });
    assert.deepEqual(next.lines.map((l) => parseLogLine("m1", l)!.text), ["new one", "a new app"]);
    assert.deepEqual(scanLogs(root, { project: "p", kinds: ["out", "req"], after: next.cursor }).lines, []);
    // Pages of 2: together the same lines as one read.
    const whole = scanLogs(root, { project: "p", kinds: ["out", "req"] }).lines;
    const paged: string[] = [];
    let after: typeof first.cursor | undefined;
    for (let i = 0; i < 10; i++) {
      const page = scanLogs(root, { project: "p", kinds: ["out", "req"], limit: 2, ...(after ? { after } : {}) });
      paged.push(...page.lines);
      after = page.cursor;
      if (!page.more) break;
    }
    assert.deepEqual(paged, whole);
  });
  it("a byte budget stops the read and the next call goes on from there", () => {
    const root = tmp();
    const logs = new LogStore(root, () => 50 * 1024 * 1024);
    logs.write("p", "web", "out", [{ time: T(1), release: 1, instance: "i", lines: Array.from({ length: 30_000 }, (_, i) => `line ${i} ${"y".repeat(80)}`) }]);
    let after = scanLogs(root, { project: "p", kinds: ["out"], endOnly: true }).cursor;
    assert.deepEqual(after, { "p/web/out": [1, statSync(join(root, "p/web/out-00000001.log")).size] });
    after = { "p/web/out": [1, 0] };
    let seen = 0;
    for (let i = 0; i < 20; i++) {
      const page = scanLogs(root, { project: "p", kinds: ["out"], grep: "line 29999 ", after }, 1024 * 1024);
      seen += page.lines.length;
      after = page.cursor;
      if (!page.more) break;
    }
    assert.equal(seen, 1);
  });
  it("finds the text every match must contain (the fast path), or none when it cannot be sure", () => {
    const cases: [string, string | undefined][] = [
      ["ERROR payment", "ERROR payment"],
      ["ERROR pay(ment|out) failed", "ERROR pay"],
      ["^GET /api/items/\\d+ 500", "GET /api/items/"],
      ["colou?r scheme", "r scheme"],
      ["a|b", undefined],
      ["foo|barbaz", undefined],
      ["[abc]def[^x]yz", "def"],
      ["x{2,3}yyy", "yyy"],
      ["ab", undefined],
      ["(?:timeout|refused) after \\d+ ms", " after "],
      ["\\berror\\b", "error"],
    ];
    for (const [re, want] of cases) assert.equal(requiredText(re), want, re);
    // Each is really required: a line without it never matches.
    for (const [re, want] of cases) if (want) for (const line of ["ERROR payment failed", "GET /api/items/12 500", "colour scheme", "xxyyy", "timeout after 12 ms", "an error here"]) if (new RegExp(re).test(line)) assert.ok(line.includes(want), `${re} on ${line}`);
  });
  it("records parse back; a torn line does not", () => {
    const line = "2026-11-30T06:00:01.000Z\tout\t3\tskiff-p-web-3-abc\thello\tworld";
    assert.deepEqual(parseRecord(line), { time: "2026-11-30T06:00:01.000Z", kind: "out", release: 3, instance: "skiff-p-web-3-abc", text: "hello\tworld" });
    assert.equal(recordText(line), "hello\tworld");
    assert.equal(parseRecord("2026-11-30T06:0"), undefined);
  });
});

describe("the collector", () => {
  it("copies a process instance's out.log with its labels, goes on after a restart of the agent, and copies the rest before removal", async () => {
    const state = tmp();
    const store = new Store(state);
    const root = join(state, "logs");
    const files = new LogStore(root, () => 50 * 1024 * 1024);
    const agentLog = join(state, "agent.log");
    writeFileSync(agentLog, "agent says hi\n");
    const opts = { stateDir: state, dockerSocket: "/nonexistent", agentLog, log: () => {} };
    const name = "skiff-p-web-4-abc";
    const dir = join(state, "instances", name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "out.log"), "one\ntwo\npart");
    const c1 = new LogCollector(files, store, opts);
    c1.track("process", { name, labels: { "skiff.project": "p", "skiff.app": "web", "skiff.release": "4" } });
    c1.tick();
    const texts = () => scanLogs(root, { project: "p", kinds: ["out"] }).lines.map((l) => parseLogLine("m1", l)!);
    assert.deepEqual(texts().map((l) => [l.text, l.release, l.instance]), [["one", 4, name], ["two", 4, name]]);
    // A new agent (its positions saved) goes on where the old one stopped: no line twice.
    appendFileSync(join(dir, "out.log"), "ial\nthree\n");
    const c2 = new LogCollector(new LogStore(root, () => 50 * 1024 * 1024), store, opts);
    c2.track("process", { name, labels: { "skiff.project": "p", "skiff.app": "web", "skiff.release": "4" } });
    c2.tick();
    assert.deepEqual(texts().map((l) => l.text), ["one", "two", "partial", "three"]);
    // Rotated by the runtime (copied to out.log.1, then cut) before the copy: the rest is taken from out.log.1.
    appendFileSync(join(dir, "out.log"), "four\n");
    writeFileSync(join(dir, "out.log.1"), readFileSync(join(dir, "out.log")));
    writeFileSync(join(dir, "out.log"), "five\n");
    appendFileSync(join(dir, "out.log"), "six\n");
    await c2.flush(name);
    assert.deepEqual(texts().map((l) => l.text), ["one", "two", "partial", "three", "four", "five", "six"]);
    const agent = scanLogs(root, { project: "p", kinds: ["agent"] }).lines.map((l) => parseLogLine("m1", l)!);
    assert.deepEqual(agent.map((l) => [l.app, l.kind, l.text]), [["agent", "agent", "agent says hi"]]);
  });
});

describe("the collector, started", () => {
  it("copies a line soon after it is written (a watch, not a poll), and a new instance's from its start", async () => {
    const state = tmp();
    const store = new Store(state);
    const root = join(state, "logs");
    const agentLog = join(state, "agent.log");
    writeFileSync(agentLog, "");
    const c = new LogCollector(new LogStore(root, () => 50 * 1024 * 1024), store, { stateDir: state, dockerSocket: "/nonexistent", agentLog, log: () => {} });
    const texts = () => scanLogs(root, { project: "p", kinds: ["out"] }).lines.map((l) => parseLogLine("m1", l)!.text);
    const until = async (what: string, ok: () => boolean) => {
      for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 25));
      assert.ok(ok(), what);
    };
    const instance = (name: string) => {
      mkdirSync(join(state, "instances", name), { recursive: true });
      writeFileSync(join(state, "instances", name, "out.log"), "");
      c.track("process", { name, labels: { "skiff.project": "p", "skiff.app": "web", "skiff.release": "1" } });
      return join(state, "instances", name, "out.log");
    };
    // A sweep far away: only the watches can bring the lines in time.
    c.start(3_600_000);
    try {
      const a = instance("skiff-p-web-1-aaa");
      appendFileSync(a, "first\n");
      await until("the first line copied without a sweep", () => texts().includes("first"));
      await new Promise((r) => setTimeout(r, 600)); // the round its start asked for is over: the next is the watch's
      appendFileSync(a, "second\n");
      await until("a later line copied, woken by the watch", () => texts().includes("second"));
      const b = instance("skiff-p-web-1-bbb");
      appendFileSync(b, "from b\n");
      await until("a new instance's line copied", () => texts().includes("from b"));
      appendFileSync(agentLog, "agent line\n");
      await until("the agent's line copied", () => scanLogs(root, { project: "p", kinds: ["agent"] }).lines.length === 1);
      assert.deepEqual(texts().sort(), ["first", "from b", "second"]);
    } finally {
      c.stop();
    }
  });
});

describe("HAProxy's and Docker's lines", () => {
  it("parses the request log format, with or without a syslog header", () => {
    const raw = '1796018409.042 skiff_p_web s2 public 3 200 13 0/0/1/2/3 172.30.77.1 "GET /print?line=x HTTP/1.1"';
    const want = { time: "2026-11-30T06:00:09.042Z", backend: "skiff_p_web", server: "s2", text: '200 13 0/0/1/2/3 172.30.77.1 "GET /print?line=x HTTP/1.1"', mesh: false, ms: 3 };
    assert.deepEqual(parseRequestLine(raw), want);
    assert.deepEqual(parseRequestLine(`<134>Nov 30 06:40:09 haproxy[77]: ${raw}\n`), want);
    assert.equal(parseRequestLine("<134>Nov 30 06:40:09 haproxy[77]: Proxy public started."), undefined);
  });
  it("splits Docker's multiplexed frames into timed lines and keeps a partial frame", () => {
    const frame = (stream: number, s: string) => {
      const p = Buffer.from(s);
      const h = Buffer.alloc(8);
      h[0] = stream;
      h.writeUInt32BE(p.length, 4);
      return Buffer.concat([h, p]);
    };
    const all = Buffer.concat([frame(1, "2026-11-30T06:00:01.123456789Z hello\n"), frame(2, "2026-11-30T06:00:02.000000001Z oops\n")]);
    const got: unknown[] = [];
    const rest = parseFrames(all.subarray(0, all.length - 5), (l) => got.push(l));
    assert.deepEqual(got, [{ ts: "2026-11-30T06:00:01.123456789Z", stream: "out", text: "hello" }]);
    parseFrames(Buffer.concat([rest, all.subarray(all.length - 5)]), (l) => got.push(l));
    assert.deepEqual(got[1], { ts: "2026-11-30T06:00:02.000000001Z", stream: "err", text: "oops" });
    assert.equal(dockerSince("2026-11-30T06:00:01.123456789Z"), "1796018401.123456789");
  });
});
