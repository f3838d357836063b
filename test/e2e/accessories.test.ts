// Accessories on 3 bed machines: Debian's Postgres 15 as a process accessory `db` pinned to m2 (examples/postgres,
// its cluster in a volume), and `writer` (examples/pg-writer) on m1 and m3 inserting rows through db.internal:5433
// (across the mesh: neither runs the database). A changed db is refused without --yes (nothing changes), restarted
// stop-first with it (the rows stay: same volume), held stopped by `skiff accessory stop` (no restart meanwhile) and
// started again. Its own public port 8114, project `accp`.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { bedConfig, faults, up, type Bed } from "../../testbed/bed.ts";
import { makeProject, type Project, type Run } from "./helpers.ts";

const PG = new URL("../../examples/postgres", import.meta.url).pathname;
const WRITER = new URL("../../examples/pg-writer", import.meta.url).pathname;
const PORT = 8114;
const DB_PORT = 5433;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let bed: Bed;
let p: Project;

function configure(o: { tune: string }): void {
  writeFileSync(
    join(p.dir, "skiff.yml"),
    bedConfig(bed, { project: "accp", httpPort: PORT }) +
      `accessories:
  db:
    machine: m2
    run: sh run.sh
    artifact: ${PG}
    port: ${DB_PORT}
    stop_signal: SIGINT
    stop_timeout: 20s
    env: { POSTGRES_PASSWORD: test, TUNE: "${o.tune}" }
    volumes: { data: data }
    health: { interval: 300ms, deadline: 60s }
apps:
  writer:
    run: node server.js
    artifact: ${WRITER}
    machines: [m1, m3]
    env: { DB: "db.internal:${DB_PORT}", PGPASSWORD: test, INTERVAL_MS: "30" }
    routes: [{ path: / }]
    health: { path: /healthz, interval: 300ms, deadline: 20s }
    deploy: { drain_timeout: 2s, probation: 2s }
`,
  );
}

const ok = (r: Run, what: string) => assert.equal(r.code, 0, `${what}: ${r.stdout}\n${r.stderr}`);
type Stats = { instance: string; committed: number; failed: number; lastError: string; lastId: number };
const writers = () => Promise.all([bed.machines[0]!, bed.machines[2]!].map(async (m) => (await (await fetch(`http://${m.address}:${PORT}/stats`)).json()) as Stats));
const committed = async () => (await writers()).reduce((n, s) => n + s.committed, 0);
/** Rows in the table, asked on m2 through the name (as the apps ask). */
const rows = async () => Number((await faults.exec(bed.machines[1]!, `PGPASSWORD=test psql -h db.internal -p ${DB_PORT} -U postgres -qtAc 'select count(*) from rows'`)).trim());
type Status = { machine: string; apps: { app: string; held?: { by?: string }; instances: { name: string; running: boolean; healthy: boolean }[] }[] }[];
async function dbInstance(): Promise<{ name: string; running: boolean; healthy: boolean } | undefined> {
  const s = JSON.parse((await p.skiff(["--json", "status", "db"])).stdout) as Status;
  return s.find((m) => m.machine === "m2")?.apps.find((a) => a.app === "db")?.instances[0];
}
async function until(what: string, test: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await test().catch(() => false))) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(300);
  }
}

describe("accessories: Postgres pinned to m2, written to through db.internal from m1 and m3", { timeout: 900_000 }, () => {
  before(async () => {
    bed = await up({ count: 3, log: (s) => console.error(`bed: ${s}`) });
    p = makeProject();
    configure({ tune: "1" });
    for (const args of [["machines", "trust", "--yes"], ["setup"]]) ok(await p.skiff(args), args.join(" "));
    for (const app of ["writer", "db"]) await p.skiff(["remove", app, "--yes"]); // the bed is shared: start from nothing
    // Its volume too: a cluster left by an earlier run would have other rows.
    await faults.exec(bed.machines[1]!, "rm -rf /var/lib/skiff/volumes/accp");
  });
  after(async () => {
    for (const app of ["writer", "db"]) await p?.skiff(["remove", app, "--yes"]);
  });

  it("plan and first deploy: db starts on m2 only (first, before the apps), the writers commit rows through its name", async () => {
    const plan = await p.skiff(["plan"]);
    assert.match(plan.stdout, /^db \(accessory on m2\)$/m, plan.stdout);
    assert.ok(plan.stdout.indexOf("db (accessory") < plan.stdout.indexOf("\nwriter"), "the accessory comes first");
    assert.match(plan.stdout, /^  \+ name db\.internal:5433 \(tcp; also db\.accp\.internal:5433\)$/m, plan.stdout);
    ok(await p.skiff(["deploy"]), "deploy");
    const s = JSON.parse((await p.skiff(["--json", "status"])).stdout) as Status;
    const count = (m: string, app: string) => s.find((x) => x.machine === m)?.apps.find((a) => a.app === app)?.instances.filter((i) => i.running && i.healthy).length ?? 0;
    assert.deepEqual(bed.machines.map((m) => count(m.name, "db")), [0, 1, 0]);
    assert.deepEqual(bed.machines.map((m) => count(m.name, "writer")), [1, 0, 1]);
    await until("rows from both writers", async () => (await writers()).every((w) => w.committed > 5));
    assert.ok((await rows()) >= (await committed()) - 2, "every committed row is in the table");
    const scaled = await p.skiff(["scale", "db=2"]);
    assert.equal(scaled.code, 1, scaled.stderr);
    assert.match(scaled.stderr, /db is an accessory: one instance on m2, never scaled/);
  });

  it("a changed db: refused without --yes (nothing changes), then restarted stop-first on the same volume with it", async () => {
    const before = await dbInstance();
    configure({ tune: "2" });
    const plan = await p.skiff(["plan", "db"]);
    assert.match(plan.stdout, /^  restarts: the running one stops, then the new release starts on the same volumes; db\.internal refuses connections meanwhile; deploy asks for --yes$/m, plan.stdout);
    const refused = await p.skiff(["deploy"]);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /this deploy would stop an accessory: db restarts on m2; nothing was changed/, refused.stderr);
    assert.match(refused.stderr, /run again with --yes/);
    assert.deepEqual(await dbInstance(), before, "the same instance still runs");
    const rowsBefore = await rows();
    const t0 = Date.now();
    const d = await p.skiff(["deploy", "db", "--yes"]);
    ok(d, "deploy db --yes");
    console.error(`db restarted stop-first in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const now = await dbInstance();
    assert.ok(now?.running && now.healthy, JSON.stringify(now));
    assert.notEqual(now!.name, before!.name, "a new instance");
    assert.match(now!.name, /^skiff-accp-db-2-/);
    // The same volume: every row from before is there, and the writers go on adding.
    assert.ok((await rows()) >= rowsBefore, "no row lost");
    const c = await committed();
    await until("writers committing again", async () => (await committed()) > c + 5);
    const h = JSON.parse((await p.skiff(["--json", "history", "db"])).stdout) as { action: string; release: number; machines: Record<string, { result: string }> }[];
    assert.ok(h.some((r) => r.action === "deploy" && r.release === 2 && r.machines.m2?.result === "ok"), JSON.stringify(h));
    // A rollback of it by name stops it as an upgrade does: refused without --yes, nothing changed.
    const noRollback = await p.skiff(["rollback", "db"]);
    assert.notEqual(noRollback.code, 0);
    assert.match(noRollback.stderr, /this rollback would stop db \(an accessory; release 1 would start on its volumes\); nothing was changed/, noRollback.stderr);
    assert.equal((await dbInstance())!.name, now!.name, "release 2 still runs");
    const rowsAt2 = await rows();
    ok(await p.skiff(["rollback", "db", "--yes"]), "rollback db --yes");
    const back = await dbInstance();
    assert.ok(back?.running && back.healthy && /^skiff-accp-db-1-/.test(back.name), JSON.stringify(back));
    assert.ok((await rows()) >= rowsAt2, "the same volume: no row lost");
  });

  it("skiff accessory stop holds it stopped (not restarted); start brings it back with its rows", async () => {
    const stop = await p.skiff(["accessory", "stop", "db"]);
    ok(stop, "accessory stop");
    assert.match(stop.stdout, /^db on m2: stopped \(held: not restarted until `skiff accessory start`\)$/m);
    const rowsHeld = Number((await faults.exec(bed.machines[1]!, "ls /var/lib/skiff/volumes/accp/db/data/base | wc -l")).trim());
    assert.ok(rowsHeld > 0, "the cluster is still on disk");
    await sleep(3000);
    const held = await dbInstance();
    assert.equal(held?.running, false, "the supervisor left it stopped");
    const text = (await p.skiff(["status", "db"])).stdout;
    assert.match(text, /stopped \(skiff accessory stop by \S+/, text);
    const f0 = (await writers()).reduce((n, s) => n + s.failed, 0);
    await until("writers failing while it is stopped", async () => (await writers()).reduce((n, s) => n + s.failed, 0) > f0);
    const start = await p.skiff(["accessory", "start", "db"]);
    ok(start, "accessory start");
    assert.match(start.stdout, /^db on m2: started$/m);
    assert.equal((await dbInstance())?.name, held?.name, "the same instance again");
    const c = await committed();
    await until("writers committing after start", async () => (await committed()) > c + 5);
    assert.ok((await rows()) >= c, "rows kept across stop and start");
    const h = (await p.skiff(["history", "db"])).stdout;
    assert.match(h, /\bstop\b[\s\S]*\bstart\b/, h);
    const logs = await p.skiff(["accessory", "logs", "db", "-n", "200"]);
    ok(logs, "accessory logs");
    assert.match(logs.stdout, /database system is ready to accept connections/, logs.stdout.slice(-2000));
    const wrong = await p.skiff(["accessory", "stop", "writer"]);
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /writer is an app, not an accessory/);
  });
});
