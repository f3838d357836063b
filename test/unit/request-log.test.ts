// HAProxy's request lines filed a chunk at a time (agent/log-requests.ts, log-request-scan.ts): each app's lines of
// a chunk in one write, labelled with release and instance, times never going backwards (within a chunk and after
// what the file already holds), lines cut across reads put back together, the histogram counted as one line at a
// time would; over a real TCP socket as HAProxy's ring sends them. Expectations by hand.
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { LineScan, scanLine } from "../../src/agent/log-request-scan.ts";
import { RequestLog } from "../../src/agent/log-requests.ts";
import { LogStore } from "../../src/agent/log-store.ts";
import { Store } from "../../src/agent/store.ts";
import { bucketOf, DURATION_BUCKETS_S, RequestDurations } from "../../src/metrics/request-durations.ts";

const H = "skiff_app_http_request_duration_seconds";
const inst = (name: string, release: number, slot: string) => ({ name, release, hostPort: 30000, slot, startedAt: "", restarts: 0 });

/** An agent's state dir with apps p/web (s1 → release 4, s2 → warm release 3) and p/api (s1 → release 9). */
function setup() {
  const dir = mkdtempSync(join(tmpdir(), "skiff-reqlog-"));
  const store = new Store(dir);
  store.saveState({ project: "p", app: "web", active: 4, instances: [inst("skiff-p-web-4-aaa", 4, "s1")], warm: [inst("skiff-p-web-3-zzz", 3, "s2")], pending: [] });
  store.saveState({ project: "p", app: "api", active: 9, instances: [inst("skiff-p-api-9-bbb", 9, "s1")], warm: [], pending: [] });
  const durations = new RequestDurations();
  const logs = new LogStore(join(dir, "logs"), () => 1 << 20);
  const log = new RequestLog(logs, store, (s) => assert.fail(`logged: ${s}`), durations);
  /** Everything filed for an app, and in how many segment files. */
  const filed = (app: string) => {
    const d = join(dir, "logs", "p", app);
    const files = readdirSync(d).filter((f) => f.startsWith("req-"));
    return files.map((f) => readFileSync(join(d, f), "latin1")).join("");
  };
  return { dir, store, durations, logs, log, filed };
}

/** A request line as REQUEST_LOG_FORMAT writes it, accepted at 2026-11-30T06:00:09 + ms. */
const req = (ms: number, backend: string, server: string, ta: number, path: string, frontend = "public") =>
  `1796018409.${String(ms).padStart(3, "0")} ${backend} ${server} ${frontend} ${ta} 200 13 0/0/0/${ta}/${ta} 172.30.77.1 "GET ${path} HTTP/1.1"`;
const kept = (ta: number, path: string) => `200 13 0/0/0/${ta}/${ta} 172.30.77.1 "GET ${path} HTTP/1.1"`;
const HEADER = "<134>Nov 30 06:40:09 haproxy[77]: ";

describe("a chunk of request lines", () => {
  it("each app's lines filed in order, labelled; times never go backwards; what is not ours is skipped", () => {
    const { log, filed, logs } = setup();
    let writes = 0;
    const write = logs.writeLines.bind(logs);
    logs.writeLines = (...a) => (writes++, write(...a));
    const chunk = [
      req(42, "skiff_p_web", "s1", 3, "/a"),
      HEADER + req(40, "skiff_p_api", "s1", 1, "/b"),
      // Accepted before the line above it (HAProxy logs a request when it ends): stamped with the time before it.
      HEADER + req(41, "skiff_p_web", "s2", 12, "/c"),
      "<134>Nov 30 06:40:09 haproxy[77]: Proxy public started.",
      req(43, "skiff_no_route", "<NOSRV>", 0, "/nothing"),
      req(44, "skiff_q_gone", "s1", 0, "/gone"),
      req(45, "skiff_p_web", "<NOSRV>", 0, "/d"),
      req(46, "skiff_p_web", "s9", 5, "/e", "mesh~"),
      "1796018409.047 skiff_p_api s1 - 120 0/1/5003 172.30.77.1 tcp",
      "garbage",
      "",
    ].join("\n");
    const rest = `${req(48, "skiff_p_web", "s1", 1, "/cut")}`.slice(0, 20);
    assert.equal(log.fileLines(chunk + "\n" + rest), chunk.length + 1, "the unfinished line is left for the next read");
    assert.equal(writes, 2, "one write per app");
    const t = (ms: number) => `2026-11-30T06:00:09.${String(ms).padStart(3, "0")}Z`;
    assert.equal(
      filed("web"),
      [
        `${t(42)}\treq\t4\tskiff-p-web-4-aaa\t${kept(3, "/a")}`,
        `${t(42)}\treq\t3\tskiff-p-web-3-zzz\t${kept(12, "/c")}`,
        `${t(45)}\treq\t-\t-\t${kept(0, "/d")}`,
        // A slot the state does not name: the server as HAProxy wrote it.
        `${t(46)}\treq\t-\ts9\t${kept(5, "/e")}`,
        "",
      ].join("\n"),
    );
    assert.equal(filed("api"), [`${t(40)}\treq\t9\tskiff-p-api-9-bbb\t${kept(1, "/b")}`, `${t(47)}\treq\t9\tskiff-p-api-9-bbb\t- 120 0/1/5003 172.30.77.1 tcp`, ""].join("\n"));
    // A later chunk with an earlier time (the ring's backlog after a reconnect): no earlier than the file's last line.
    log.take(req(1, "skiff_p_web", "s1", 2, "/late"));
    assert.equal(filed("web").split("\n").at(-2), `${t(46)}\treq\t4\tskiff-p-web-4-aaa\t${kept(2, "/late")}`);
  });

  it("an agent started again goes on from the file's last time", () => {
    const a = setup();
    a.log.take(req(500, "skiff_p_web", "s1", 2, "/first"));
    const b = new RequestLog(new LogStore(join(a.dir, "logs"), () => 1 << 20), a.store, () => {});
    b.fileLines(`${req(100, "skiff_p_web", "s1", 2, "/replayed")}\n${req(600, "skiff_p_web", "s1", 2, "/new")}\n`);
    assert.deepEqual(
      a.filed("web").split("\n").map((l) => l.slice(0, 24)),
      ["2026-11-30T06:00:09.500Z", "2026-11-30T06:00:09.500Z", "2026-11-30T06:00:09.600Z", ""],
    );
  });

  it("the histogram counts what entered here, as a line at a time would", () => {
    const { log, durations } = setup();
    const tas = [0, 1, 2, 3, 7, 26, 99, 100, 101, 9999, 10_000, 10_001, 60_000];
    log.fileLines(tas.map((ta, i) => req(i, "skiff_p_web", "s1", ta, "/h")).join("\n") + "\n" + req(50, "skiff_p_web", "s1", 5, "/m", "mesh") + "\n" + "1796018409.060 skiff_p_web s1 200 13 0/0/1/2/3 172.30.77.1 \"GET / HTTP/1.1\"\n");
    const one = new RequestDurations();
    for (const ta of tas) one.observe("skiff_p_web", "p", "web", ta);
    assert.deepEqual(durations.series("m1", () => true), one.series("m1", () => true));
    const count = durations.series("m1", () => true).find((s) => s.name === `${H}_count`);
    assert.equal(count?.value, tas.length, "the mesh line and the line without Ta are not counted");
    // Only TCP lines (no duration): no histogram for the app at all.
    log.fileLines("1796018409.047 skiff_p_api s1 - 120 0/1/5003 172.30.77.1 tcp\n");
    assert.deepEqual(durations.series("m1", (b) => b === "skiff_p_api"), []);
  });

  it("bucketOf agrees with the bounds for every whole ms and between them", () => {
    const bounds = DURATION_BUCKETS_S.map((s) => s * 1000);
    const search = (ms: number) => {
      const i = bounds.findIndex((b) => ms <= b);
      return i < 0 ? bounds.length : i;
    };
    for (let ms = 0; ms <= 10_002; ms++) assert.equal(bucketOf(ms), search(ms), String(ms));
    for (const ms of [0.5, 2.5, 2.6, 1e9]) assert.equal(bucketOf(ms), search(ms), String(ms));
  });

  it("scanLine refuses what is not a request line without throwing", () => {
    const f = new LineScan();
    for (const l of ["", "x", "1796018409.042", "1796018409. skiff_p_web s1 public 1 200", "1796018409.0421 skiff_p_web s1 public 1 200", ".042 skiff_p_web s1 public 1", "99999999999999999.042 skiff_p_web s1 public 1 200 x", "1796018409.0x2 skiff_p_web s1 public 1 200 x", "<134>no header end 1796018409.042 skiff_p_web s1"])
      assert.equal(scanLine(l, 0, l.length, f), false, l);
    const l = `x\n${req(7, "skiff_p_web", "s1", 3, "/in-the-middle")}\ny`;
    assert.equal(scanLine(l, 2, l.length - 2, f), true);
    assert.deepEqual([f.time(), l.slice(f.s1 + 1, f.s2), l.slice(f.s2 + 1, f.s3), l.slice(f.text, l.length - 2), f.ms, f.mesh], ["2026-11-30T06:00:09.007Z", "skiff_p_web", "s1", kept(3, "/in-the-middle"), 3, false]);
  });
});

describe("over TCP, as HAProxy's ring sends them", () => {
  it("a line a write, spread out (HAProxy below saturation): every line filed soon, none waits behind another", async () => {
    const { log, filed } = setup();
    log.listen("127.0.0.1:0");
    await new Promise((r) => setTimeout(r, 50));
    const c = connect(log.address()!.port, "127.0.0.1");
    await new Promise((r) => c.once("connect", r));
    c.setNoDelay(true);
    const n = 400;
    const t0 = Date.now();
    for (let i = 0; i < n; i++) {
      c.write(`${req(i % 1000, "skiff_p_web", "s1", 1, `/one${i}`)}\n`);
      await new Promise((r) => setTimeout(r, 2));
    }
    // Read in rounds every 100 ms: all of them filed within a few rounds of the last write (a round that took one
    // write of several waiting would need n rounds, 40 s).
    for (let i = 0; i < 60 && filed("web").split("\n").length - 1 < n; i++) await new Promise((r) => setTimeout(r, 50));
    const took = Date.now() - t0;
    c.end();
    log.close();
    assert.equal(filed("web").split("\n").length - 1, n, `filed after ${took} ms`);
  });

  it("lines cut across writes are filed whole, in order, bytes as sent", async () => {
    const { log, filed } = setup();
    log.listen("127.0.0.1:0");
    await new Promise((r) => setTimeout(r, 50));
    const port = log.address()!.port;
    const lines = Array.from({ length: 3000 }, (_, i) => HEADER + req(i % 1000, "skiff_p_web", "s1", i % 9, `/n${i}?q=é`));
    const bytes = Buffer.from(lines.join("\n") + "\n");
    const c = connect(port, "127.0.0.1");
    await new Promise((r) => c.once("connect", r));
    // Pieces of odd sizes, some mid-line and one mid-character, a little apart: several rounds.
    for (let at = 0; at < bytes.length; at += 7001) {
      c.write(bytes.subarray(at, at + 7001));
      await new Promise((r) => setTimeout(r, 15));
    }
    const want = lines.length;
    for (let i = 0; i < 100 && filed("web").split("\n").length - 1 < want; i++) await new Promise((r) => setTimeout(r, 50));
    c.end();
    log.close();
    const got = Buffer.from(filed("web"), "latin1").toString("utf8").split("\n").slice(0, -1);
    assert.equal(got.length, want);
    got.forEach((l, i) => assert.ok(l.endsWith(`\t${kept(i % 9, `/n${i}?q=é`)}`), `line ${i}: ${l}`));
  });
});
