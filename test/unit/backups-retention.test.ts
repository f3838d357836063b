// Scheduled backups with real restic on this computer (a directory repository), the agent's clock run forward by
// hand: 41 days of a daily schedule leave exactly the snapshots the policy says, each run is recorded in history,
// and a backup restores byte for byte.
import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Backups } from "../../src/agent/backups.ts";
import type { BackupJob } from "../../src/contracts/backups.ts";
import { memAgent } from "./agent-fakes.ts";

function setup() {
  const a = memAgent();
  const root = mkdtempSync(join(tmpdir(), "skiff-backups-"));
  a.runtime.volumeRoot = join(root, "volumes");
  const data = join(root, "volumes", "shop", "web", "data");
  mkdirSync(data, { recursive: true });
  writeFileSync(join(data, "a.txt"), "first\n");
  const job: BackupJob = { project: "shop", app: "web", kind: "volumes", schedule: "0 3 * * *", keep: { daily: 7, weekly: 4, monthly: 6 }, repo: { kind: "dir", path: join(root, "repo") }, password: "correct horse battery staple" };
  return { a, root, data, job, backups: new Backups(a.core.machine, join(root, "state")) };
}

describe("backups: schedule and retention (real restic)", () => {
  it("35 daily runs (Jan 1 to Feb 4) keep the last 7 days, the newest of 4 weeks and of each month: 9 snapshots", { timeout: 180_000 }, async () => {
    const { a, job, backups } = setup();
    await a.deploy(1, {}, { volumes: [{ name: "data", path: "/data" }] });
    a.clock.t = Date.parse("2025-12-31T12:00:00Z");
    backups.set("shop", [job]);
    let runs = 0;
    for (;;) {
      const next = backups.nextAt(job);
      if (next > Date.parse("2026-02-04T12:00:00Z")) break;
      a.clock.t = next;
      await backups.tick();
      runs++;
    }
    assert.equal(runs, 35);
    // Daily: Feb 4 back to Jan 29. Weekly (ISO weeks): Feb 4, Feb 1, Jan 25, Jan 18. Monthly: Feb 4, Jan 31.
    const kept = (await backups.list("shop", "web")).map((s) => s.time.slice(0, 10)).sort();
    assert.deepEqual(kept, ["2026-01-18", "2026-01-25", "2026-01-29", "2026-01-30", "2026-01-31", "2026-02-01", "2026-02-02", "2026-02-03", "2026-02-04"]);
    const history = a.store.history({ project: "shop", app: "web" }).filter((e) => e.action === "backup");
    assert.equal(history.length, 35);
    assert.ok(history.every((e) => e.result === "ok" && e.by === "schedule" && e.backup?.snapshot && (e.backup.bytes ?? 0) > 0), JSON.stringify(history.at(-1)));
    // The policy removes one snapshot a day once the first week is full (the month's newest and the weeks' stay).
    assert.ok(history.slice(8).some((e) => (e.backup?.forgot ?? 0) > 0));
  });

  it("a restore puts the volume back byte for byte, modes kept, files made after the snapshot gone", { timeout: 60_000 }, async () => {
    const { a, data, job, backups } = setup();
    await a.deploy(1, {}, { volumes: [{ name: "data", path: "/data" }] });
    writeFileSync(join(data, "secret.key"), Buffer.from([0, 1, 2, 255, 254]));
    chmodSync(join(data, "secret.key"), 0o600);
    mkdirSync(join(data, "sub"));
    writeFileSync(join(data, "sub", "b.bin"), Buffer.alloc(100_000, 7));
    backups.set("shop", [job]);
    const r = await backups.run("shop", "web", { by: "ann" });
    assert.equal(r.ok, true, r.reason);
    writeFileSync(join(data, "a.txt"), "changed\n");
    writeFileSync(join(data, "later.txt"), "made after\n");
    // As `skiff backup restore` does: a backup of what is there first, which "the newest" then passes over.
    a.clock.advance(1000);
    const first = await backups.run("shop", "web", { by: "ann", keepAll: true });
    assert.equal(first.ok, true, first.reason);
    const { restore } = await import("../../src/agent/backup-restore.ts");
    const done = await restore(backups, a.core.machine, { project: "shop", app: "web", by: "ann", not: [first.snapshot!] });
    assert.equal(done.ok, true, done.reason);
    assert.ok(done.snapshot?.startsWith(r.snapshot!), `${done.snapshot} is ${r.snapshot}`);
    assert.equal(readFileSync(join(data, "a.txt"), "utf8"), "first\n");
    assert.deepEqual([...readFileSync(join(data, "secret.key"))], [0, 1, 2, 255, 254]);
    assert.equal(statSync(join(data, "secret.key")).mode & 0o777, 0o600);
    assert.equal(readFileSync(join(data, "sub", "b.bin")).length, 100_000);
    assert.throws(() => statSync(join(data, "later.txt")), /ENOENT/);
    // The service was held stopped for the swap, and runs again.
    assert.deepEqual(a.store.history({ project: "shop", app: "web" }).map((e) => e.action), ["deploy", "backup", "backup", "stop", "start", "restore"]);
    assert.equal(a.proxy.serving().length, 1);
  });

  it("--into: a snapshot goes into another service's volume of the same name; the source is not touched", { timeout: 60_000 }, async () => {
    const { a, root, data, job, backups } = setup();
    await a.deploy(1, {}, { volumes: [{ name: "data", path: "/data" }] });
    backups.set("shop", [job]);
    const r = await backups.run("shop", "web");
    assert.equal(r.ok, true, r.reason);
    writeFileSync(join(data, "a.txt"), "live, not touched\n");
    // The scratch copy: another app with a volume of that name, running here.
    const copy = join(root, "volumes", "shop", "copy", "data");
    mkdirSync(copy, { recursive: true });
    writeFileSync(join(copy, "old.txt"), "gone after\n");
    const { release } = await import("./agent-fakes.ts");
    a.store.putRelease(release(1, { app: "copy", volumes: [{ name: "data", path: "/data" }] }));
    assert.equal((await a.core.activate({ project: "shop", app: "copy", release: 1, machine: "m1", action: "deploy" })).ok, true);
    const { restore, volumeNameOf } = await import("../../src/agent/backup-restore.ts");
    const done = await restore(backups, a.core.machine, { project: "shop", app: "web", into: "copy", by: "ann" });
    assert.equal(done.ok, true, done.reason);
    assert.equal(readFileSync(join(copy, "a.txt"), "utf8"), "first\n");
    assert.throws(() => statSync(join(copy, "old.txt")), /ENOENT/);
    assert.equal(readFileSync(join(data, "a.txt"), "utf8"), "live, not touched\n");
    const e = a.store.history({ project: "shop", app: "copy" }).at(-1)!;
    assert.equal(e.action, "restore");
    assert.equal(e.reason, "from web's backup");
    // Where a volume's name is read from: a process volume's directory, or a Docker volume's.
    assert.equal(volumeNameOf("/var/lib/skiff/volumes/shop/web/data", "shop", "web"), "data");
    assert.equal(volumeNameOf("/var/lib/docker/volumes/skiff-shop-web-up-loads/_data", "shop", "web"), "up-loads");
  });

  it("a repository removed while a run wrote on (its data, index and snapshots left, no config): the next run moves them aside and makes a new one", { timeout: 60_000 }, async () => {
    const { a, root, job, backups } = setup();
    await a.deploy(1, {}, { volumes: [{ name: "data", path: "/data" }] });
    backups.set("shop", [job]);
    assert.equal((await backups.run("shop", "web")).ok, true);
    // What a run under way leaves when the repository goes under it: what it wrote after, under the old key.
    const repo = join(root, "repo");
    const left = join(root, "left");
    mkdirSync(left);
    for (const d of ["data", "index", "snapshots"]) renameSync(join(repo, d), join(left, d));
    rmSync(repo, { recursive: true });
    renameSync(left, repo);
    // The first run after fails (this agent knew the repository); the next looks again.
    const failed = await backups.run("shop", "web");
    assert.equal(failed.ok, false);
    assert.match(failed.reason ?? "", /unable to open config file/);
    const r = await backups.run("shop", "web");
    assert.equal(r.ok, true, r.reason);
    const aside = readdirSync(root).filter((f) => f.startsWith("repo.orphaned-"));
    assert.equal(aside.length, 1, readdirSync(root).join(" "));
    assert.deepEqual(readdirSync(join(root, aside[0]!)).sort(), ["data", "index", "snapshots"]);
    assert.equal((await backups.list("shop", "web")).length, 1);
    assert.match(a.log.join("\n"), /web: files left where its repository was .* moved to .*repo\.orphaned-\d{14}; a new repository made/);
    // A repository being made by another machine of the app (its keys written, its config not yet) is not moved.
    const making = { ...job, repo: { kind: "dir" as const, path: join(root, "making") } };
    mkdirSync(join(making.repo.path, "keys"), { recursive: true });
    mkdirSync(join(making.repo.path, "data"));
    backups.set("shop", [making]);
    assert.equal((await backups.run("shop", "web")).ok, true, "restic makes its repository there, around what is there");
    assert.equal(readdirSync(root).filter((f) => f.startsWith("making.orphaned-")).length, 0);
    assert.ok(existsSync(join(making.repo.path, "config")));
    // An empty directory made for the repository is used as it is.
    const empty = { ...job, repo: { kind: "dir" as const, path: join(root, "empty") } };
    mkdirSync(empty.repo.path);
    backups.set("shop", [empty]);
    assert.equal((await backups.run("shop", "web")).ok, true);
    assert.equal(readdirSync(root).filter((f) => f.startsWith("empty.orphaned-")).length, 0);
  });

  it("a stale lock (its restic killed mid-run on this machine) is removed; a live one is waited for, not removed", { timeout: 120_000 }, async () => {
    const { a, job, backups } = setup();
    await a.deploy(1, {}, { volumes: [{ name: "data", path: "/data" }] });
    backups.set("shop", [job]);
    assert.equal((await backups.run("shop", "web")).ok, true);
    const { Restic } = await import("../../src/agent/restic.ts");
    const restic = new Restic(job, join(mkdtempSync(join(tmpdir(), "skiff-restic-")), "state"));
    // A backup from stdin holds its lock while its input is open; killed, it leaves the lock behind.
    const held = restic.spawn(["backup", "--stdin", "--stdin-filename", "x"], "pipe");
    held.stdin!.write("some data\n");
    const locks = join(job.repo.kind === "dir" ? job.repo.path : "", "locks");
    for (let i = 0; i < 100 && !(existsSync(locks) && readdirSync(locks).length); i++) await new Promise((ok) => setTimeout(ok, 100));
    assert.equal(readdirSync(locks).length, 1, "the backup holds a lock");
    // While it lives, its lock is not stale: an exclusive command waits (and is not let through by unlock).
    const waiting = restic.run(["forget", "--keep-last", "1"]);
    await new Promise((ok) => setTimeout(ok, 3000));
    assert.equal(readdirSync(locks).length, 1, "a live lock stays");
    held.kill("SIGKILL");
    await new Promise((ok) => held.on("close", ok));
    assert.equal(readdirSync(locks).length, 1, "the killed backup left its lock");
    // The next try meets the stale lock: removed, and the command goes through.
    const r = await waiting;
    assert.equal(r.code, 0, r.stderr);
    const after = await backups.run("shop", "web");
    assert.equal(after.ok, true, after.reason);
  });

  it("a repository that cannot be reached: the run fails, is recorded, and the next one is due at the next time", async () => {
    const { a, job, backups } = setup();
    await a.deploy(1, {}, { volumes: [{ name: "data", path: "/data" }] });
    const bad = { ...job, repo: { kind: "dir" as const, path: "/proc/skiff-no-such-repo" } };
    backups.set("shop", [bad]);
    const r = await backups.run("shop", "web");
    assert.equal(r.ok, false);
    assert.ok(r.reason && r.reason.length > 5, r.reason);
    const e = a.store.history({ project: "shop", app: "web" }).at(-1)!;
    assert.equal(e.action, "backup");
    assert.equal(e.result, "failed");
    assert.ok(backups.nextAt(bad) > a.clock.now());
  });
});
