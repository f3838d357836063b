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
import { previousRelease, RECENT, servedFacts } from "../../src/contracts/served.ts";
import { previousGood } from "../../src/plan/rollback.ts";

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
    const web = s.historyServed("shop", "web");
    assert.deepEqual([web.releases, Object.keys(web.rejected ?? {}), web.damaged], [[1, 2, 4, 5], ["5"], []], "the rollback from 5 to 2 leaves 5 out");
    assert.deepEqual(s.historyServed("shop", "api").releases, [7]);
    const { damaged: _, ...facts } = web;
    assert.deepEqual(facts, servedFacts(s.history({ project: "shop", app: "web" }), "web"), "what the whole history says");
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
    assert.equal(previousRelease([s.historyServed("shop", "web")], 3).to, 2);
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
    assert.deepEqual([s.historyServed("shop", "web").releases, s.historyServed("shop", "web").damaged], [[20, 21, 22], []]);
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
    const r = s.historyServed("shop", "web");
    assert.deepEqual([r.releases, r.damaged], [[1, 2], [{ line: 2, text: "éééé not a record" }]]);
  });

  it("a torn last line that rolls back counts now, and is not kept", () => {
    const { s, dir } = store();
    s.appendHistory(entry(1));
    s.appendHistory(entry(2));
    appendFileSync(join(dir, "history.jsonl"), JSON.stringify(entry(1, { action: "rollback" })));
    assert.deepEqual(Object.keys(s.historyServed("shop", "web").rejected ?? {}), ["2"]);
    appendFileSync(join(dir, "history.jsonl"), "\n" + JSON.stringify(entry(3)) + "\n");
    const r = s.historyServed("shop", "web");
    assert.deepEqual([r.releases, Object.keys(r.rejected ?? {})], [[1, 2, 3], ["2"]]);
    assert.deepEqual(previousRelease([r], 3), { to: 1, passedOver: [2] }, "back from 3 is 1: it served after 2");
  });

  it("and those that served last, however old (--to 3 among 3,000, then a deploy: the way back is 3)", () => {
    const { s, dir } = store();
    const lines = Array.from({ length: 3000 }, (_, i) => entry(i + 1, { at: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString() }));
    lines.push(entry(3, { action: "rollback", at: "2026-02-01T00:00:00.000Z" }), entry(3001, { at: "2026-02-01T00:01:00.000Z" }));
    writeFileSync(join(dir, "history.jsonl"), lines.map((e) => JSON.stringify(e) + "\n").join(""));
    s.saveState({ project: "shop", app: "web", active: 3001, instances: [], warm: [], pending: [] });
    const r = s.historyServed("shop", "web");
    assert.ok(r.releases.includes(3) && r.releases.length <= MAX_SERVED + RECENT + 10, `${r.releases.length} releases`);
    assert.equal(previousRelease([r], 3001).to, 3);
  });

  it("answers the serving times of the last RECENT releases that served, in the order they served", () => {
    const { s, dir } = store();
    writeFileSync(join(dir, "history.jsonl"), Array.from({ length: 100 }, (_, i) => JSON.stringify(entry(i + 1, { at: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString() })) + "\n").join(""));
    const r = s.historyServed("shop", "web");
    assert.deepEqual(Object.keys(r.at ?? {}).map(Number), Array.from({ length: RECENT }, (_, i) => 100 - RECENT + 1 + i));
  });

  it("previousGood goes back by one machine's whole history; a long one does not overflow the stack", () => {
    const hist = [entry(1), entry(2), entry(3, { result: "failed" })];
    assert.equal(previousGood(hist, "web", 4), 2);
    assert.equal(previousRelease([{ releases: Array.from({ length: 200_000 }, (_, i) => i) }], 150_000).to, 149_999);
  });
});

describe("the release a plain rollback goes back to", () => {
  let t = 0;
  /** A history in the order given, a second apart: [release, action] pairs; "x" is a deploy whose switch was undone. */
  const hist = (...steps: [number, "d" | "r" | "x" | "s"][]) =>
    steps.flatMap(([release, a]): HistoryEntry[] => {
      const at = new Date(Date.UTC(2026, 0, 1, 0, 0, t++)).toISOString();
      if (a === "x") return [entry(release, { at }), entry(release, { at, result: "rolled back" }), entry(release - 1, { at, action: "rollback" })];
      return [entry(release, { at, action: a === "d" ? "deploy" : a === "r" ? "rollback" : "scale" })];
    });
  const target = (h: HistoryEntry[], active: number) => previousGood(h, "web", active);

  it("after a rollback and a deploy: the release that ran before the deploy, not the one rolled back from", () => {
    // 1, 2, back to 1, 3: the way back from 3 is 1 (it ran last; with keep_warm it is the warm one), not 2.
    assert.equal(target(hist([1, "d"], [2, "d"], [1, "r"], [3, "d"]), 3), 1);
    // 1, 2, back to 1 by --to, 3, back to 2 by --to, 4: 2 ran last (served again, so no longer left out).
    assert.equal(target(hist([1, "d"], [2, "d"], [1, "r"], [3, "d"], [2, "r"], [4, "d"]), 4), 2);
  });

  it("two plain rollbacks in a row go further back: the first one's release is left out", () => {
    const h = hist([1, "d"], [2, "d"], [3, "d"], [2, "r"]);
    assert.equal(target(h, 2), 1);
    assert.equal(target(hist([1, "d"], [2, "d"], [3, "d"]), 3), 2, "no rollback yet: the previous deploy");
  });

  it("back to 1 past 2 (--to), then a deploy: 1 ran last, although 2 is newer", () => {
    assert.equal(target(hist([1, "d"], [2, "d"], [3, "d"], [1, "r"], [4, "d"]), 4), 1);
  });

  it("a deploy whose switch was undone (it failed on another machine) is left out, as is a release rolled forward from is not", () => {
    assert.equal(target(hist([1, "d"], [2, "d"], [3, "x"], [4, "d"]), 4), 2);
    // Forward with --to from 1 to 3: 1 was not rolled back from.
    assert.equal(target(hist([1, "d"], [2, "d"], [3, "d"], [1, "r"], [3, "r"], [4, "d"]), 4), 3);
    assert.equal(target(hist([1, "d"], [2, "d"], [3, "d"], [1, "r"], [3, "r"]), 3), 1, "3 served again: it is no longer left out, 1 is not either");
  });

  it("a scale serves the same release: it changes nothing", () => {
    assert.equal(target(hist([1, "d"], [2, "d"], [2, "s"], [1, "r"], [1, "s"], [3, "d"]), 3), 1);
  });

  it("every machine's answer counts: one machine's rollback leaves the release out everywhere, the latest time wins", () => {
    const m1 = servedFacts(hist([1, "d"], [2, "d"], [3, "d"]), "web");
    const m2 = servedFacts(hist([1, "d"], [2, "d"], [3, "d"], [1, "r"], [4, "d"]), "web");
    assert.deepEqual(previousRelease([m1, m2], 4), { to: 1, passedOver: [3] });
    // An older agent answers the releases only: the newest below the active one that no one left out.
    assert.deepEqual(previousRelease([{ releases: m1.releases }, { releases: [1, 2, 3] }], 4), { to: 3, passedOver: [] });
  });

  it("a command's summary record (the CLI's clock) does not count: the machines' own records do", () => {
    // 1, 2, back to 1, 3; the CLI's summary of deploy 3 stamped before the rollback (its clock is slow).
    const h = hist([1, "d"], [2, "d"], [1, "r"], [3, "d"]);
    h.push(entry(2, { at: "2025-01-01T00:00:00.000Z", summary: true }), entry(3, { at: "2025-01-01T00:00:00.000Z", summary: true }));
    assert.equal(target(h, 3), 1);
    assert.deepEqual(Object.keys(servedFacts(h, "web").rejected ?? {}), ["2"]);
  });

  it("a rollback undone (it failed on another machine) leaves nothing out: a retry goes to the same release", () => {
    // On m1: 1, 2, 3, back to 1, then forward to 3 again as the rollback failed on m2; m2 never left 3.
    const both = hist([1, "d"], [2, "d"], [3, "d"]);
    const m1 = servedFacts([...both, ...hist([1, "r"]), entry(1, { result: "rolled back", at: new Date(Date.UTC(2026, 0, 1, 0, 0, t++)).toISOString() }), ...hist([3, "r"])], "web");
    const m2 = servedFacts(both, "web");
    assert.deepEqual(previousRelease([m1, m2], 3), { to: 1, passedOver: [] });
  });

  it("left on a machine that was down, served again on the others: not left out", () => {
    // m3 saw 4, 5, back to 4; then it was down while the others went forward to 5 (--to) and deployed 6.
    const before = hist([4, "d"], [5, "d"], [4, "r"]);
    const m3 = servedFacts(before, "web");
    const rest = servedFacts([...before, ...hist([5, "r"], [6, "d"])], "web");
    assert.deepEqual(previousRelease([rest, m3], 6), { to: 5, passedOver: [] });
    assert.deepEqual(previousRelease([m3, m3], 6), { to: 4, passedOver: [5] }, "with m3's view alone 5 stays out");
  });

  it("passedOver names only the releases left out that were newer than the choice", () => {
    assert.deepEqual(previousRelease([servedFacts(hist([1, "d"], [2, "d"], [1, "r"], [3, "d"], [4, "d"], [3, "r"], [5, "d"]), "web")], 5), { to: 3, passedOver: [4] });
  });

  it("none left: says which were left out, or that there is none", () => {
    assert.deepEqual(previousRelease([servedFacts(hist([1, "d"], [2, "d"], [1, "r"], [3, "d"], [1, "r"]), "web")], 1), { to: undefined, passedOver: [] });
    // Left out on one machine or another (each machine answers its own): none to go back to, and which.
    const t = "2026-01-01T00:00:00.000Z";
    assert.deepEqual(previousRelease([{ releases: [1, 2], rejected: { 1: t } }, { releases: [1, 2], rejected: { 2: t } }], 3), { to: undefined, passedOver: [1, 2] });
  });
});
