// bench/backup: backup and restore throughput of a Postgres accessory holding SIZE_MB (default 1024) of dump,
// skiff's (`skiff backup run`, `skiff backup restore`) next to the same pipeline typed by hand on the same machines
// in the same run: `pg_dumpall | restic backup --stdin` into a fresh repository over SFTP on m3, and
// `restic dump | psql`. Printed: MB, seconds, MB/s and skiff ÷ by hand. Figures, not assertions.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { bedConfig, down, faults, up } from "../testbed/bed.ts";
import { makeProject, type Run } from "../test/e2e/helpers.ts";

const SIZE_MB = Number(process.env.SIZE_MB ?? 1024);
const PORT = 8123;
const DB_PORT = 5435;
const PG = new URL("../examples/postgres", import.meta.url).pathname;

const bed = await up({ count: 3, log: (s) => console.error(`bed: ${s}`) });
const [, m2, m3] = bed.machines as [(typeof bed.machines)[number], (typeof bed.machines)[number], (typeof bed.machines)[number]];
// Room for the cluster, its WAL and two repositories: the bed's disks are 1 GB, enough for SIZE_MB up to about 150.
// Above that m2's and m3's are grown (offline: each machine is powered off for it), and the bed is taken down at the
// end so that the tests after this find the disks they expect.
const grow = SIZE_MB > 150;
if (grow) for (const m of [m2, m3]) await faults.growDisk(m, 1024 + SIZE_MB * 5);
const p = makeProject();
const skiff = (args: string[], stdin?: string): Promise<Run> => p.skiff(args, { stdin });
const kg = await skiff(["secrets", "keygen"]);
const recipient = /public key: (age1\w+)/.exec(kg.stdout + kg.stderr)![1]!;
async function must(args: string[], stdin?: string): Promise<Run> {
  const r = await skiff(args, stdin);
  if (r.code !== 0) throw new Error(`skiff ${args.join(" ")}: ${r.stdout}\n${r.stderr}`);
  return r;
}

writeFileSync(
  join(p.dir, "skiff.yml"),
  bedConfig(bed, { project: "bbench", httpPort: PORT }) +
    `secrets: { recipients: [${recipient}] }
accessories:
  db:
    machine: m2
    run: sh run.sh
    artifact: ${PG}
    port: ${DB_PORT}
    stop_signal: SIGINT
    secrets: [POSTGRES_PASSWORD]
    volumes: { data: data }
    health: { interval: 300ms, deadline: 60s }
    backups: { kind: postgres, schedule: "0 3 1 1 *", to: m3 }
`,
);
await must(["secrets", "set", "POSTGRES_PASSWORD"], "bench-pg");
await must(["secrets", "set", "BACKUP_PASSWORD"], "bench backup password");
for (const args of [["machines", "trust", "--yes"], ["setup"]]) await must(args);
await skiff(["remove", "db", "--yes"]);
await faults.exec(m2, "rm -rf /var/lib/skiff/volumes/bbench");
await faults.exec(m3, "rm -rf /var/lib/skiff/backup-store/data/bbench /var/lib/skiff/backup-store/data/hand");
await must(["deploy"]);

const psql = (sql: string) => faults.exec(m2, `PGPASSWORD=bench-pg psql -h db.internal -p ${DB_PORT} -U postgres -qtAc ${JSON.stringify(sql)}`);
// Rows of six different md5s (hex: about half compressible), ~215 bytes each in the dump.
const rows = Math.round((SIZE_MB * 1048576) / 215);
let t = performance.now();
await psql(`create table big (id bigint primary key, pad text); insert into big select i, md5(i::text) || md5((i * 3)::text) || md5((i * 7)::text) || md5((i * 11)::text) || md5((i * 13)::text) || md5((i * 17)::text) from generate_series(1, ${rows}) i`);
console.error(`filled ${rows} rows in ${((performance.now() - t) / 1000).toFixed(1)} s; database ${(await psql("select pg_size_pretty(pg_database_size('postgres'))")).trim()}`);

const secs = (ms: number) => ms / 1000;
t = performance.now();
/** The command's result: the last line of --json output (the lines before it are its progress events). */
const last = (r: Run) => JSON.parse(r.stdout.trim().split("\n").at(-1)!) as unknown;
const run = last(await must(["--json", "backup", "run", "db"])) as { bytes: number; added: number; durationMs: number }[];
const skiffBackupS = secs(performance.now() - t);
// What the repository holds on m3 after it (restic 0.14's data_added counts bytes before compression).
const repoMb = Number((await faults.exec(m3, "du -sm /var/lib/skiff/backup-store/data/bbench/db | cut -f1")).trim());
const dumpMb = run[0]!.bytes / 1048576;

// By hand on m2, with the key and pinned host key skiff left there, into a fresh repository beside skiff's on m3.
const ssh = `ssh -i /var/lib/skiff/backups/id_ed25519 -o UserKnownHostsFile=/var/lib/skiff/backups/known_hosts-${m3.address} -o StrictHostKeyChecking=yes -o BatchMode=yes skiff-backup@${m3.address} -s sftp`;
const restic = `RESTIC_PASSWORD=hand restic -r sftp:skiff-backup@${m3.address}:/var/lib/skiff/backup-store/data/hand -o sftp.command="${ssh}"`;
const dbPort = (await faults.exec(m2, `grep -o '"hostPort": *[0-9]*' /var/lib/skiff/apps/bbench/db/state.json | head -1 | grep -o '[0-9]*$'`)).trim();
await faults.exec(m2, `${restic} init >/dev/null`);
t = performance.now();
if (!/^\d+$/.test(dbPort)) throw new Error(`db's port on m2: ${JSON.stringify(dbPort)}`);
/** Runs a pipeline on m2 under bash with pipefail (the machines' sh is dash, which has none). */
const bash = (cmd: string) => faults.exec(m2, `bash -o pipefail -c '${cmd.replaceAll("'", "'\\''")}'`);
await bash(`PGPASSWORD=bench-pg pg_dumpall -h 127.0.0.1 -p ${dbPort} -U postgres --clean --if-exists | ${restic} backup --stdin --stdin-filename hand.sql >/dev/null`);
const handBackupS = secs(performance.now() - t);

t = performance.now();
const restore = last(await must(["--json", "backup", "restore", "db", "--yes"])) as { before: { durationMs: number }[]; restored: { durationMs: number }[] };
const skiffRestoreWallS = secs(performance.now() - t);
const skiffRestoreS = secs(restore.restored[0]!.durationMs);
t = performance.now();
await bash(`${restic} dump latest /hand.sql | PGPASSWORD=bench-pg psql -h 127.0.0.1 -p ${dbPort} -U postgres -d postgres -q -X -o /dev/null 2>/dev/null`);
const handRestoreS = secs(performance.now() - t);
const count = (await psql("select count(*) from big")).trim();

const row = (what: string, s: number, hand: number) => `| ${what} | ${s.toFixed(1)} s | ${(dumpMb / s).toFixed(1)} MB/s | ${hand.toFixed(1)} s | ${(dumpMb / hand).toFixed(1)} MB/s | ${(s / hand).toFixed(2)} |`;
console.log(`\nPostgres dump of ${dumpMb.toFixed(0)} MB (${rows} rows; ${count} after the restores), to m3 over SFTP; restic ${(await faults.exec(m2, "restic version")).trim().split(" ")[1]}`);
console.log("| step | skiff | skiff MB/s | by hand | by hand MB/s | skiff ÷ hand (time) |");
console.log("| --- | --- | --- | --- | --- | --- |");
console.log(row("backup", skiffBackupS, handBackupS));
console.log(row("restore (the restore step)", skiffRestoreS, handRestoreS));
console.log(`restore as the command runs it (a backup first, deduplicated, then the restore): ${skiffRestoreWallS.toFixed(1)} s; its backup: ${(restore.before[0]!.durationMs / 1000).toFixed(1)} s`);
console.log(`the first backup: ${(run[0]!.added / 1048576).toFixed(0)} MB new to restic, ${repoMb} MB in the repository on m3 (compressed)`);
await skiff(["remove", "db", "--yes"]);
await faults.exec(m2, "rm -rf /var/lib/skiff/volumes/bbench");
await faults.exec(m3, "rm -rf /var/lib/skiff/backup-store/data/bbench /var/lib/skiff/backup-store/data/hand");
if (grow) {
  console.error("bed: taking the bed down (its disks were grown)");
  await down();
}
