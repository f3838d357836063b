// Backups in skiff.yml, in the jobs each machine is told, in restic's arguments and output, in verify's row
// counts, and in the backup_failed alert.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { checkConfig } from "../../src/config/load.ts";
import { formatDiagnostic } from "../../src/errors.ts";
import { backupJobs, sftpTargets } from "../../src/plan/backups.ts";
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { backupSummary, collect, keepArgs, lastLines, staleHere } from "../../src/agent/restic.ts";
import { dumpRowCounts } from "../../src/agent/backup-source.ts";
import { emptyLedger, type MachineFacts } from "../../src/contracts/alerts.ts";
import { evaluate } from "../../src/alerts/evaluate.ts";

const base = `project: shop
machines:
  m1: { host: 10.0.0.1, private_address: 10.1.0.1 }
  m2: { host: 10.0.0.2, private_address: 10.1.0.2 }
  m3: { host: 10.0.0.3 }
`;
const check = (text: string) => checkConfig(base + text, "skiff.yml");
const lines = (text: string) => check(text).diagnostics.map(formatDiagnostic);

describe("config: backups", () => {
  it("defaults: volumes, daily at 03:00, 7 daily / 4 weekly / 6 monthly, password in BACKUP_PASSWORD; targets parsed", () => {
    const { project, diagnostics } = check(`accessories:\n  db:\n    machine: m1\n    image: postgres:15\n    volumes: { data: /var/lib/postgresql/data }\n    backups: { kind: volumes, to: m2 }\n  cache:\n    machine: m2\n    image: redis:7\n    port: 6379\n    backups: { kind: postgres, to: "m1:/srv/b", schedule: "*/15 * * * * *", keep: { last: 3 } }\napps:\n  web:\n    image: web:1\n    volumes: { up: /up }\n    backups: { to: /srv/backups, password_secret: WEB_BACKUPS }\n  files:\n    image: f:1\n    volumes: { d: /d }\n    backups: { to: "s3:https://s3.example.com/bucket/x" }\n`);
    assert.deepEqual(diagnostics, []);
    assert.deepEqual(project!.apps.db!.backups, { kind: "volumes", schedule: "0 3 * * *", keep: { daily: 7, weekly: 4, monthly: 6 }, to: { kind: "machine", machine: "m2" }, passwordSecret: "BACKUP_PASSWORD" });
    assert.deepEqual(project!.apps.cache!.backups!.to, { kind: "machine", machine: "m1", path: "/srv/b" });
    assert.deepEqual(project!.apps.cache!.backups!.keep, { last: 3 });
    assert.deepEqual(project!.apps.web!.backups!.to, { kind: "dir", path: "/srv/backups" });
    assert.deepEqual(project!.apps.files!.backups!.to, { kind: "s3", url: "s3:https://s3.example.com/bucket/x" });
  });

  it("mistakes at their line: a bad schedule, an unknown target machine (with a guess), one without private_address, nothing to back up", () => {
    const cron = lines(`accessories:\n  db:\n    machine: m1\n    image: postgres:15\n    backups: { schedule: "every day", to: m2 }\n`);
    assert.equal(cron.length, 1, cron.join("\n"));
    assert.match(cron[0]!, /^skiff\.yml:10:26: .*must be a cron expression/);
    const out = lines(`accessories:\n  db:\n    machine: m1\n    image: postgres:15\n    backups: { kind: postgres, to: m4 }\n  kv:\n    machine: m1\n    image: redis:7\n    port: 6379\n    backups: { kind: postgres, to: m3 }\n`);
    assert.equal(out.length, 2, out.join("\n"));
    assert.match(out[0]!, /^skiff\.yml:10:36: backups of "db" go to machine "m4", which is not defined under machines[\s\S]*did you mean/);
    assert.match(out[1]!, /^skiff\.yml:15:36: backups of "kv" go to machine "m3", which has no private_address/);
    assert.match(lines(`apps:\n  web:\n    image: w:1\n    backups: { to: /b }\n`)[0]!, /app "web" backs up its volumes but has none/);
    // An accessory says what it is (a database's live files are not a backup); a policy keeps something.
    const acc = lines(`accessories:\n  db:\n    machine: m1\n    image: postgres:15\n    volumes: { d: /d }\n    backups: { to: /b, keep: { daily: 0 } }\n`);
    assert.equal(acc.length, 2, acc.join("\n"));
    assert.match(acc.join("\n"), /backups of accessory "db" need a kind/);
    assert.match(acc.join("\n"), /backups of "db" keep nothing/);
  });
});

describe("plan: backup jobs", () => {
  const { project } = check(`accessories:\n  db:\n    machine: m1\n    image: postgres:15\n    backups: { kind: postgres, to: m2 }\napps:\n  web:\n    image: web:1\n    machines: [m1, m3]\n    volumes: { up: /up }\n    backups: { to: /srv/b }\n`);

  it("each job goes to the machines that may run its service; the password from the secrets; SFTP to the target's private address", () => {
    const jobs = backupJobs(project!, { BACKUP_PASSWORD: "pw" }, new Map([["m2", ["ssh-ed25519 AAAA"]]]));
    assert.deepEqual([...jobs.keys()], ["m1", "m2", "m3"]);
    assert.deepEqual(jobs.get("m1")!.map((j) => j.app), ["db", "web"]);
    assert.deepEqual(jobs.get("m2"), [], "the target holds no job (nor the password)");
    assert.deepEqual(jobs.get("m3")!.map((j) => j.app), ["web"]);
    const db = jobs.get("m1")![0]!;
    assert.deepEqual(db.repo, { kind: "sftp", user: "skiff-backup", host: "10.1.0.2", port: 22, path: "/var/lib/skiff/backup-store/data/shop/db", hostKeys: ["ssh-ed25519 AAAA"] });
    assert.equal(db.password, "pw");
    assert.deepEqual(jobs.get("m1")![1]!.repo, { kind: "dir", path: "/srv/b/shop/web" });
    assert.deepEqual([...sftpTargets(project!)], [["m2", ["m1"]]]);
  });

  it("a password secret that is not set is named", () => {
    assert.throws(() => backupJobs(project!, {}, new Map()), /encrypted with the secret BACKUP_PASSWORD, which is not set/);
  });
});

describe("restic's arguments and output", () => {
  it("the policy as restic's flags; an empty policy keeps the last one", () => {
    assert.deepEqual(keepArgs({ daily: 7, weekly: 4, monthly: 6 }), ["--keep-daily", "7", "--keep-weekly", "4", "--keep-monthly", "6"]);
    assert.deepEqual(keepArgs({ last: 2 }), ["--keep-last", "2"]);
    assert.deepEqual(keepArgs({}), ["--keep-last", "1"]);
  });

  it("a reason is restic's last lines, without a Go stack trace after the error", () => {
    const trace = "Error loading snapshot 11fee1ec: ciphertext verification failed\ngithub.com/restic/restic/internal/restic.FindLatestSnapshot.func1\n\tgithub.com/restic/restic/internal/restic/snapshot_find.go:40\nruntime.goexit\n\truntime/asm_amd64.s:1594\n";
    assert.equal(lastLines(trace), "Error loading snapshot 11fee1ec: ciphertext verification failed");
    assert.equal(lastLines("a\nb\nc\nd\nFatal: unable to open config file\n"), "b; c; d; Fatal: unable to open config file");
    assert.equal(lastLines("  \n"), "restic failed without a message");
  });

  it("a lock is stale only when restic names this machine and a pid this agent started that is gone", () => {
    const msg = (how: string) => `unable to create lock in backend: repository is already locked ${how}by PID 2891 on m2 by root (UID 0, GID 0)\nlock was created at …`;
    const gone = () => false;
    const ours = (pid: number) => pid === 2891;
    assert.equal(staleHere(msg(""), "m2", gone, ours), true);
    assert.equal(staleHere(msg("exclusively "), "m2", gone, ours), true);
    assert.equal(staleHere(msg(""), "m2", () => true, ours), false, "a live restic's lock is waited for");
    assert.equal(staleHere(msg(""), "m3", gone, ours), false, "another machine's pid says nothing here");
    assert.equal(staleHere(msg(""), "m2", gone, () => false), false, "a machine of the same hostname (a cloned image): not a restic of this agent");
    assert.equal(staleHere("Fatal: wrong password", "m2", gone, ours), false);
  });

  it("the summary line of backup --json", () => {
    const out = ['{"message_type":"status","percent_done":1}', '{"message_type":"summary","files_new":1,"data_added":1234,"total_bytes_processed":99999,"snapshot_id":"fe8d023b"}', ""].join("\n");
    assert.deepEqual(backupSummary(out), { snapshot: "fe8d023b", bytes: 99999, added: 1234 });
    assert.equal(backupSummary('{"message_type":"status"}'), undefined);
  });

  it("a dump piped into another program arrives byte for byte (its stdout is not read as text on the way)", async () => {
    const data = randomBytes(200_000);
    const src = spawn("/bin/cat", [], { stdio: ["pipe", "pipe", "pipe"] });
    const dst = spawn("/usr/bin/sha256sum", [], { stdio: ["pipe", "pipe", "pipe"] });
    src.stdout!.pipe(dst.stdin!);
    src.stdin!.end(data);
    const [s, d] = await Promise.all([collect(src, { piped: true }), collect(dst)]);
    assert.equal(s.code, 0);
    assert.equal(d.stdout.split(" ")[0], createHash("sha256").update(data).digest("hex"));
  });

  it("rows per table of a pg_dumpall, per database", () => {
    const dump = ["\\connect template1", "\\connect postgres", "COPY public.rows (id, writer, at) FROM stdin;", "1\ta\t2026", "2\tb\t2026", "\\.", "COPY public.empty (id) FROM stdin;", "\\.", '\\connect -reuse-previous=on "dbname=\'shop\'"', "COPY public.orders (id) FROM stdin;", "7", "\\.", "-- PostgreSQL database cluster dump complete"].join("\n");
    assert.deepEqual(dumpRowCounts(dump), { "postgres.public.rows": 2, "postgres.public.empty": 0, "shop.public.orders": 1 });
  });
});

describe("alert: backup_failed", () => {
  const cfg = { rules: { backupFailed: {} }, machines: [{ name: "m1", addr: "10.0.0.1" }, { name: "m2", addr: "10.0.0.2" }], self: "m1", receivers: [], apps: ["db"] };
  const facts = (machine: string, lastBackup: MachineFacts["lastBackup"]): MachineFacts => ({ machine, t: 0, disk: [], apps: {}, lastCommand: {}, lastBackup });

  it("fires when the newest run failed, resolves at the next good one once the failure is three rounds old", () => {
    const bad = evaluate({ cfg, now: Date.parse("2026-11-30T10:00:20Z"), missing: {}, facts: [facts("m1", { db: { at: "2026-11-30T10:00:15Z", result: "failed", reason: "ssh: connect to host 10.0.0.3 port 22: No route to host" } }), facts("m2", {})] }, emptyLedger(), "m1");
    assert.deepEqual(bad.events.map((e) => [e.status, e.key]), [["firing", "backup_failed/db"]]);
    assert.equal(bad.events[0]!.summary, "db: backup on m1 at 10:00:15Z failed: ssh: connect to host 10.0.0.3 port 22: No route to host");
    const good = evaluate({ cfg, now: Date.parse("2026-11-30T10:00:50Z"), missing: {}, facts: [facts("m1", { db: { at: "2026-11-30T10:00:38Z", result: "ok", lastFailure: { at: "2026-11-30T10:00:15Z" } } })] }, bad.ledger, "m1");
    assert.deepEqual(good.events.map((e) => e.status), ["resolved"]);
    assert.equal(good.events[0]!.summary.startsWith("db: backup on m1 at 10:00:38Z ok"), true, good.events[0]!.summary);
  });

  it("a failure followed by a good run before any round saw it still fires once, and resolves three rounds after the failure", () => {
    const at = (t: string) => Date.parse(`2026-11-30T${t}Z`);
    const run = { db: { at: "2026-11-30T10:00:08Z", result: "ok", lastFailure: { at: "2026-11-30T10:00:02Z", reason: "connection lost" } } };
    const first = evaluate({ cfg: { ...cfg, intervalMs: 10_000 }, now: at("10:00:10"), missing: {}, facts: [facts("m1", {}), facts("m2", run)] }, emptyLedger(), "m1");
    assert.deepEqual(first.events.map((e) => e.status), ["firing"]);
    assert.equal(first.events[0]!.summary, "db: backup on m2 at 10:00:02Z failed: connection lost");
    const still = evaluate({ cfg: { ...cfg, intervalMs: 10_000 }, now: at("10:00:30"), missing: {}, facts: [facts("m2", run)] }, first.ledger, "m1");
    assert.deepEqual(still.events, [], "within three rounds of the failure: still firing, nothing new");
    const after = evaluate({ cfg: { ...cfg, intervalMs: 10_000 }, now: at("10:00:40"), missing: {}, facts: [facts("m2", run)] }, still.ledger, "m1");
    assert.deepEqual(after.events.map((e) => e.status), ["resolved"]);
    // The backup machine's own reckoning wins over the leader's clock: with m2's clock a minute behind, its
    // failure 4 s ago still fires.
    const skewed = { db: { at: "2026-11-30T09:59:04Z", result: "ok", lastFailure: { at: "2026-11-30T09:58:58Z", reason: "connection lost", agoMs: 4000 } } };
    assert.deepEqual(evaluate({ cfg: { ...cfg, intervalMs: 10_000 }, now: at("10:00:02"), missing: {}, facts: [facts("m2", skewed)] }, emptyLedger(), "m1").events.map((e) => e.status), ["firing"]);
    // An old failure (an agent started again reads its history) raises nothing.
    const old = evaluate({ cfg: { ...cfg, intervalMs: 10_000 }, now: at("11:00:00"), missing: {}, facts: [facts("m2", run)] }, emptyLedger(), "m1");
    assert.deepEqual(old.events, []);
  });
});
