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

/** Errors on objects that exist (the postgres role) are expected and passed over; psql's own failure is not. */
export const PG_RESTORE = `${connect}; exec psql "$@" -d postgres -q -X -v ON_ERROR_STOP=0 -o /dev/null`;

/** A point-in-time RDB over the replication protocol (nothing written on the server's disk); its messages go to
 *  stderr. The password from REDIS_PASSWORD when set. */
export const REDIS_DUMP = 'set -- -h "${HOST:-127.0.0.1}" -p "${PORT:-6379}"; [ -z "${REDIS_PASSWORD:-}" ] || set -- "$@" -a "$REDIS_PASSWORD" --no-auth-warning; exec redis-cli "$@" --rdb -';

/** A database kind's dump: the script run in the instance, and the file it is in the snapshot. */
export const DUMPS = { postgres: { script: PG_DUMP, file: DUMP_FILE, what: "pg_dumpall" }, redis: { script: REDIS_DUMP, file: RDB_FILE, what: "redis-cli --rdb" } } as const;

/** The instance a backup reads from or a restore writes to: the active release's, running here. */
export function liveInstance(st: AppState): InstanceRecord | undefined {
  return st.active === null || st.held ? undefined : st.instances[0];
}

export const needsInstance = (kind: BackupKind): boolean => kind !== "volumes";

/** Rows per table in a dump, from its COPY blocks: what `skiff backup verify` reports for a database. */
export function dumpRowCounts(dump: string): Record<string, number> {
  const out: Record<string, number> = {};
  let table: string | undefined;
  let db = "";
  for (const line of dump.split("\n")) {
    if (table !== undefined) {
      if (line === "\\.") table = undefined;
      else out[table] = (out[table] ?? 0) + 1;
      continue;
    }
    const c = /^\\connect\s+(?:-reuse-previous=on\s+)?"?(?:dbname=)?'?([^"'\s]+)/.exec(line);
    if (c) db = c[1]!;
    const m = /^COPY ([^ ]+) \(.*\) FROM stdin;$/.exec(line);
    if (m) {
      table = `${db}.${m[1]}`;
      out[table] = 0;
    }
  }
  return out;
}
