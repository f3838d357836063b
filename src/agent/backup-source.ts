// What a backup reads, per kind, and how a restore writes it back. `postgres`: pg_dumpall in the running instance
// (consistent, every database and role) streamed into restic's stdin; restored by psql in the instance.
// `volumes`: the volume directories as they are on this machine.
import type { BackupKind } from "../contracts/backups.ts";
import type { AppState, InstanceRecord } from "../contracts/model.ts";

/** The file name the dump has inside a snapshot (restic --stdin-filename). */
export const DUMP_FILE = "pg_dumpall.sql";
export const RDB_FILE = "dump.rdb";

/** Connection from the instance's own env: PORT and HOST (a process) or the container's; the password from
 *  PGPASSWORD or POSTGRES_PASSWORD, the user from POSTGRES_USER (postgres by default). */
const connect = 'export PGPASSWORD="${PGPASSWORD:-${POSTGRES_PASSWORD:-}}"; set -- -h "${HOST:-127.0.0.1}" -p "${PORT:-5432}" -U "${POSTGRES_USER:-postgres}"';

/** --clean --if-exists: a restore into a live cluster replaces what is there (tables dropped and made again). */
export const PG_DUMP = `${connect}; exec pg_dumpall "$@" --clean --if-exists`;

/** Errors on objects that exist (the postgres role) are expected and passed over here, and judged after
 *  (restoreErrors); psql's own failure is not. */
export const PG_RESTORE = `${connect}; exec psql "$@" -d postgres -q -X -v ON_ERROR_STOP=0 -o /dev/null`;

/** Ends every other session (apps connected through a path HAProxy no longer serves, a console): a restore into a
 *  database someone holds open cannot drop and make its tables again. */
export const PG_KICK = `${connect}; exec psql "$@" -d postgres -q -X -t -c "select count(pg_terminate_backend(pid)) from pg_stat_activity where pid <> pg_backend_pid() and backend_type = 'client backend'"`;

/** What pg_dumpall --clean says, restored into a live cluster, that is not wrong: the role we connect as exists. */
const EXPECTED = [/current user cannot be dropped/, /role "[^"]+" already exists/];

/** psql's ERROR lines that mean the database is not the snapshot's. */
export function restoreErrors(stderr: string): string[] {
  return stderr.split("\n").filter((l) => /\bERROR:/.test(l) && !EXPECTED.some((e) => e.test(l)));
}

/** A point-in-time RDB over the replication protocol (nothing written on the server's disk); its messages go to
 *  stderr. The password from REDIS_PASSWORD when set, through redis-cli's environment (never its argv). */
export const REDIS_DUMP = '[ -z "${REDIS_PASSWORD:-}" ] || export REDISCLI_AUTH="$REDIS_PASSWORD"; exec redis-cli -h "${HOST:-127.0.0.1}" -p "${PORT:-6379}" --rdb -';

/** A database kind's dump: the script run in the instance, and the file it is in the snapshot. */
export const DUMPS = { postgres: { script: PG_DUMP, file: DUMP_FILE, what: "pg_dumpall" }, redis: { script: REDIS_DUMP, file: RDB_FILE, what: "redis-cli --rdb" } } as const;

/** The instance a backup reads from or a restore writes to: the active release's, running here. */
export function liveInstance(st: AppState): InstanceRecord | undefined {
  return st.active === null || st.held ? undefined : st.instances[0];
}

export const needsInstance = (kind: BackupKind): boolean => kind !== "volumes";

/** Rows per table of a dump read as it streams (a dump can be far larger than memory): its COPY blocks counted
 *  line by line, per database (`\\connect`). `complete`: pg_dumpall's last line was seen. */
export class RowCounter {
  readonly tables: Record<string, number> = {};
  complete = false;
  private table: string | undefined;
  private db = "";
  private rest = "";

  feed(chunk: string): void {
    const lines = (this.rest + chunk).split("\n");
    this.rest = lines.pop()!;
    for (const l of lines) this.line(l);
  }

  end(): Record<string, number> {
    if (this.rest) this.line(this.rest);
    this.rest = "";
    return this.tables;
  }

  private line(line: string): void {
    if (this.table !== undefined) {
      if (line === "\\.") this.table = undefined;
      else this.tables[this.table]! += 1;
      return;
    }
    if (line.startsWith("-- PostgreSQL database cluster dump complete")) this.complete = true;
    const c = /^\\connect\s+(?:-reuse-previous=on\s+)?"?(?:dbname=)?'?([^"'\s]+)/.exec(line);
    if (c) this.db = c[1]!;
    const m = /^COPY ([^ ]+) \(.*\) FROM stdin;$/.exec(line);
    if (m) {
      this.table = `${this.db}.${m[1]}`;
      this.tables[this.table] = 0;
    }
  }
}

/** Rows per table in a dump held in memory (see RowCounter). */
export function dumpRowCounts(dump: string): Record<string, number> {
  const c = new RowCounter();
  c.feed(dump);
  return c.end();
}
