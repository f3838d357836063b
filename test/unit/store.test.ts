// The agent's state on disk survives torn writes and stray files; the deploy lock is per project.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { appendFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import type { HistoryEntry, LockInfo } from "../../src/contracts/model.ts";
import { fsyncDir, writeAtomic } from "../../src/agent/atomic-write.ts";
import { Store } from "../../src/agent/store.ts";

const root = mkdtempSync(join(tmpdir(), "skiff-store-test-"));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = () => {
  const damage: string[] = [];
  const dir = join(root, String(n++));
  return { dir, damage, store: new Store(dir, { onDamage: (d) => damage.push(d) }) };
};

const entry = (release: number): HistoryEntry => ({ at: new Date(2026, 0, 1, 0, 0, release).toISOString(), machine: "m1", project: "shop", app: "web", release, action: "deploy", result: "ok" });

describe("agent store: torn writes", () => {
  it("a torn line in history.jsonl is skipped and reported; records around it survive, and the next append is intact", () => {
    const { dir, store } = fresh();
    store.appendHistory(entry(1));
    // A crash mid-append leaves half a line without its newline.
    appendFileSync(join(dir, "history.jsonl"), JSON.stringify(entry(2)).slice(0, 25));
    store.appendHistory(entry(3));
    const r = store.historyReport({ project: "shop" });
    assert.deepEqual(r.entries.map((e) => e.release), [1, 3]);
    assert.equal(r.damaged.length, 1);
    assert.equal(r.damaged[0]!.line, 2);
    assert.deepEqual(store.history({ app: "web" }).map((e) => e.release), [1, 3]);
  });

  it("a record that parses but is not a history entry is damaged too", () => {
    const { dir, store } = fresh();
    appendFileSync(join(dir, "history.jsonl"), "42\nnull\n" + JSON.stringify(entry(1)) + "\n");
    const r = store.historyReport();
    assert.deepEqual(r.entries.map((e) => e.release), [1]);
    assert.deepEqual(r.damaged.map((d) => d.line), [1, 2]);
  });

  it("a stray file under apps/ (or under a project) does not break the list of apps", () => {
    const { dir, store, damage } = fresh();
    store.saveState({ project: "shop", app: "web", active: 1, instances: [], warm: [], pending: [] });
    writeFileSync(join(dir, "apps", "notes.txt"), "hello");
    writeFileSync(join(dir, "apps", "shop", "README"), "hello");
    assert.deepEqual(store.apps(), [{ project: "shop", app: "web" }]);
    assert.ok(damage.some((d) => /notes\.txt/.test(d)), damage.join("\n"));
  });

  it("a truncated state.json falls back to the copy before the last save, and says so", () => {
    const { dir, store, damage } = fresh();
    store.saveState({ project: "shop", app: "web", active: 1, instances: [], warm: [], pending: [] });
    store.saveState({ project: "shop", app: "web", active: 2, instances: [], warm: [], pending: [] });
    truncateSync(join(dir, "apps", "shop", "web", "state.json"), 10);
    assert.equal(store.state("shop", "web").active, 1);
    assert.ok(damage.some((d) => /state\.json/.test(d)), damage.join("\n"));
    // Saving over the damaged copy keeps the good one as the fallback.
    store.saveState({ project: "shop", app: "web", active: 3, instances: [], warm: [], pending: [] });
    truncateSync(join(dir, "apps", "shop", "web", "state.json"), 0);
    assert.equal(store.state("shop", "web").active, 1);
  });

  it("a truncated release file is reported, not silently missing", () => {
    const { dir, store, damage } = fresh();
    mkdirSync(join(dir, "apps", "shop", "web", "releases"), { recursive: true });
    writeFileSync(join(dir, "apps", "shop", "web", "releases", "3.json"), '{"project": "sh');
    assert.equal(store.release("shop", "web", 3), undefined);
    assert.ok(damage.some((d) => /3\.json/.test(d)), damage.join("\n"));
  });

});

const info = (holder: string, heartbeat = new Date().toISOString()): LockInfo => ({ holder, host: "laptop", pid: 1, command: "deploy", since: heartbeat, heartbeat });

describe("agent store: the deploy lock", () => {
  it("is one per project: two projects on one machine do not block each other", () => {
    const { store } = fresh();
    assert.deepEqual(store.acquireLock("shop", info("a")), { ok: true });
    assert.deepEqual(store.acquireLock("blog", info("b")), { ok: true });
    const busy = store.acquireLock("shop", info("c"));
    assert.equal(busy.ok, false);
    assert.equal(!busy.ok && busy.holder?.holder, "a");
    assert.equal(store.lockInfo("blog")?.holder, "b");
  });

  it("a live lock is not broken without force; a stale one is; the holder's heartbeat then fails", () => {
    const { dir, store } = fresh();
    store.acquireLock("shop", info("a"));
    const refused = store.releaseLock("shop", { staleAfterMs: 30_000 });
    assert.equal(refused.released, false);
    assert.equal(refused.live, true);
    assert.equal(store.heartbeat("shop", "a"), true);
    assert.equal(store.releaseLock("shop", { force: true }).released, true);
    assert.equal(store.heartbeat("shop", "a"), false);

    store.acquireLock("shop", info("b"));
    // Its holder stopped beating 40 s ago.
    const path = join(dir, "locks", "shop", "info.json");
    writeFileSync(path, JSON.stringify(info("b", new Date(Date.now() - 40_000).toISOString())));
    assert.equal(store.releaseLock("shop", { staleAfterMs: 30_000 }).released, true);
    assert.equal(store.lockInfo("shop"), undefined);
  });

  it("taking the lock and its heartbeats are not a change of the apps' state (nothing watching it is woken); a state save is", () => {
    const { store } = fresh();
    let woken = 0;
    store.onChange(() => woken++);
    const g0 = store.generation;
    store.acquireLock("shop", info("a"));
    assert.equal(store.heartbeat("shop", "a"), true);
    assert.equal(store.lockInfo("shop")?.holder, "a");
    assert.equal(store.generation, g0);
    assert.equal(woken, 0);
    store.saveState({ ...store.state("shop", "web"), active: 1 });
    assert.equal(store.generation, g0 + 1);
    assert.equal(woken, 1);
  });

  it("a project name cannot point the lock outside the state directory", () => {
    const { store } = fresh();
    assert.throws(() => store.acquireLock("../x", info("a")), /not a project name/);
  });
});

// A file size limit (ulimit -f) makes write(2) return a short count, then EFBIG: what a nearly full disk does.
const STORE = new URL("../../src/agent/store.ts", import.meta.url).pathname;
const limited = (script: string) => spawnSync("sh", ["-c", `ulimit -f 4; exec "${process.execPath}" --import tsx --input-type=module -e "$0"`, script], { encoding: "utf8", timeout: 30_000 });

describe("agent store: short writes", () => {
  it("a write cut short (file size limit) fails and keeps the old file; no temp file remains", () => {
    const { dir, store } = fresh();
    const path = join(dir, "apps", "shop", "web", "releases", "1.json");
    store.writeJson(path, { good: true });
    const r = limited(`import { Store } from ${JSON.stringify(STORE)};
new Store(${JSON.stringify(dir)}).writeJson(${JSON.stringify(path)}, { big: "x".repeat(5000) });`);
    assert.notEqual(r.status, 0, `the write of 5 KB under a 4 KB limit reported success:\n${r.stderr}`);
    assert.deepEqual(JSON.parse(readFileSync(path, "utf8")), { good: true });
    assert.deepEqual(readdirSync(join(path, "..")), ["1.json"]);
  });

  it("a history record cut short fails and leaves no partial line behind", () => {
    const { dir, store } = fresh();
    store.appendHistory(entry(1));
    const r = limited(`import { Store } from ${JSON.stringify(STORE)};
new Store(${JSON.stringify(dir)}).appendHistory({ ...${JSON.stringify(entry(2))}, reason: "x".repeat(5000) });`);
    assert.notEqual(r.status, 0, `the append of 5 KB under a 4 KB limit reported success:\n${r.stderr}`);
    assert.equal(readFileSync(join(dir, "history.jsonl"), "utf8"), JSON.stringify(entry(1)) + "\n");
  });
});

describe("atomic writes: one helper for the store and the proxy", () => {
  const failing = (code: string) => () => {
    throw Object.assign(new Error(`fsync: ${code}`), { code });
  };
  it("a directory fsync the filesystem refuses is not an error; an I/O error is", () => {
    const { dir } = fresh();
    const path = join(dir, "a.json");
    writeAtomic(path, "1\n", { syncDir: (d) => fsyncDir(d, failing("EINVAL")) });
    assert.equal(readFileSync(path, "utf8"), "1\n");
    assert.throws(() => writeAtomic(path, "2\n", { syncDir: (d) => fsyncDir(d, failing("EIO")) }), /EIO/);
  });

  it("durable: false writes old-or-new without a sync (a file rebuilt from another, a heartbeat)", () => {
    const { dir } = fresh();
    const path = join(dir, "b.json");
    let synced = 0;
    writeAtomic(path, "1\n", { durable: false, syncDir: () => synced++ });
    writeAtomic(path, "2\n", { durable: false, syncDir: () => synced++ });
    assert.equal(readFileSync(path, "utf8"), "2\n");
    assert.equal(synced, 0);
    writeAtomic(path, "3\n", { syncDir: () => synced++ });
    assert.equal(synced, 1);
    assert.deepEqual(readdirSync(dir).filter((f) => f.includes(".tmp")), []);
  });

  it("a temp file that cannot replace the target is removed", () => {
    const { dir } = fresh();
    mkdirSync(join(dir, "busy"));
    writeFileSync(join(dir, "busy", "x"), "");
    // rename(2) of a file over a non-empty directory fails (EISDIR): the write itself went through.
    assert.throws(() => writeAtomic(join(dir, "busy"), "{}"), /EISDIR|ENOTEMPTY/);
    assert.deepEqual(readdirSync(dir).sort(), ["apps", "busy"]);
  });
});
