// The agent's index of the releases that served, read from history.jsonl as it
// grows: what a rollback asks of each machine instead of its whole history.
import assert from "node:assert/strict";
import { appendFileSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import type { HistoryEntry } from "../../src/contracts/model.ts";
import { MAX_SERVED } from "../../src/agent/history-served.ts";
import { Store } from "../../src/agent/store.ts";
import { newestBelow, previousGood, servedIn } from "../../src/plan/rollback.ts";

const root = mkdtempSync(join(tmpdir(), "skiff-served-"));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

const entry = (release: number, over: Partial<HistoryEntry> = {}): HistoryEntry => ({ at: "2026-12-01T00:00:00.000Z", machine: "m1", project: "shop", app: "web", release, action: "deploy", result: "ok", ...over });

function store() {
  const dir = join(root, String(n++));
  const damage: string[] = [];
  return { dir, damage, s: new Store(dir, { onDamage: (w) => void damage.push(w) }) };
}

describe("history.served: the releases that served, without the history", () => {
  it("counts ok deploys, rollbacks and scales of the app asked for, and nothing else; it says what the whole history says", () => {
    const { s } = store();
    const all = [
      entry(1), entry(2), entry(3, { result: "failed" }), entry(4, { action: "rollback" }), entry(5, { action: "scale" }), entry(6, { action: "restart" }),
      entry(7, { app: "api" }), entry(8, { project: "other" }), entry(2, { action: "rollback" }),
    ];
    for (const e of all) s.appendHistory(e);
    assert.deepEqual(s.historyServed("shop", "web"), { releases: [1, 2, 4, 5], damaged: [] });
    assert.deepEqual(s.historyServed("shop", "api").releases, [7]);
    assert.deepEqual(s.historyServed("shop", "web").releases, [...new Set(servedIn(s.history({ project: "shop", app: "web" }), "web"))].sort((a, b) => a - b));
  });

  it("answers the newest thousand releases that served, not every one since the first", () => {
    const { s, dir } = store();
    writeFileSync(join(dir, "history.jsonl"), Array.from({ length: 3000 }, (_, i) => JSON.stringify(entry(i + 1)) + "\n").join(""));
    const r = s.historyServed("shop", "web").releases;
    assert.equal(r.length, MAX_SERVED);
    assert.deepEqual([r[0], r.at(-1)], [3001 - MAX_SERVED, 3000]);
  });

  it("and the ten just below the release active here, however far back (a rollback --to 3 among 3,000)", () => {
    const { s, dir } = store();
    writeFileSync(join(dir, "history.jsonl"), Array.from({ length: 3000 }, (_, i) => JSON.stringify(entry(i + 1)) + "\n").join(""));
    s.saveState({ project: "shop", app: "web", active: 3, instances: [], warm: [], pending: [] });
    const r = s.historyServed("shop", "web").releases;
    assert.deepEqual(r.slice(0, 3), [1, 2, 3001 - MAX_SERVED]);
    assert.equal(newestBelow(r, 3), 2);
  });

  it("reads what was appended since it last looked, and starts again when the file was replaced", () => {
    const { s, dir } = store();
    s.appendHistory(entry(1));
    assert.deepEqual(s.historyServed("shop", "web").releases, [1]);
    s.appendHistory(entry(2));
    s.appendHistory(entry(3, { result: "failed" }));
    assert.deepEqual(s.historyServed("shop", "web").releases, [1, 2]);
    writeFileSync(join(dir, "history.jsonl"), JSON.stringify(entry(9)) + "\n");
    assert.deepEqual(s.historyServed("shop", "web").releases, [9]);
    // Replaced by a longer file (another inode): read from its start, not from where the old one ended.
    writeFileSync(join(dir, "history.new"), [entry(20), entry(21), entry(22)].map((e) => JSON.stringify(e) + "\n").join(""));
    renameSync(join(dir, "history.new"), join(dir, "history.jsonl"));
    assert.deepEqual(s.historyServed("shop", "web"), { releases: [20, 21, 22], damaged: [] });
  });

  it("a torn line is reported damaged as the history reports it, and the records after it still count", () => {
    const { s, dir, damage } = store();
    s.appendHistory(entry(1));
    appendFileSync(join(dir, "history.jsonl"), '{"at":"2026-12-01T00:00:00.000Z","machine":"m1","proj');
    assert.deepEqual(s.historyServed("shop", "web").damaged, s.historyReport({ project: "shop", app: "web" }).damaged, "an unfinished last line, as history sees it");
    s.appendHistory(entry(2));
    const r = s.historyServed("shop", "web");
    assert.deepEqual(r.releases, [1, 2]);
    assert.deepEqual(r.damaged, s.historyReport().damaged);
    assert.deepEqual(r.damaged.map((d) => d.line), [2]);
    assert.ok(damage.some((d) => /1 damaged record\(s\) skipped \(line 2\)/.test(d)), damage.join("\n"));
  });

  it("a character cut between two reads (64 KiB apart) is not mangled in a damaged line's text", () => {
    const { s, dir } = store();
    // A damaged line of multibyte characters that starts 3 bytes before the first read's end.
    const first = JSON.stringify(entry(1, { reason: "" }));
    const line1 = JSON.stringify(entry(1, { reason: "x".repeat(65536 - 3 - 1 - first.length) }));
    assert.equal(Buffer.byteLength(line1) + 1, 65533);
    writeFileSync(join(dir, "history.jsonl"), `${line1}\néééé not a record\n${JSON.stringify(entry(2))}\n`);
    assert.deepEqual(s.historyServed("shop", "web"), { releases: [1, 2], damaged: [{ line: 2, text: "éééé not a record" }] });
  });

  it("newestBelow picks the newest served release under the active one, whatever the order, and from many", () => {
    assert.equal(newestBelow([3, 1, 5, 2], 5), 3);
    assert.equal(newestBelow([5, 6], 5), undefined);
    assert.equal(newestBelow(Array.from({ length: 200_000 }, (_, i) => i), 150_000), 149_999);
    const hist = [entry(1), entry(2), entry(3, { result: "failed" })];
    assert.equal(previousGood(hist, "web", 4), 2);
  });
});
