// Backups as the CLI tells the machines and as they answer: each job is one service (an accessory or an app's
// volumes) on the machine that runs it, with its schedule, retention and restic repository.

export type BackupKind = "postgres" | "redis" | "volumes";

export interface BackupKeep {
  last?: number;
  daily?: number;
  weekly?: number;
  monthly?: number;
}

/** Where a repository is reached: a directory here, another machine over SFTP (its host keys pinned), or S3. */
export type BackupRepo = { kind: "dir"; path: string } | { kind: "sftp"; user: string; host: string; port: number; path: string; hostKeys: string[] } | { kind: "s3"; url: string };

export interface BackupJob {
  project: string;
  app: string;
  kind: BackupKind;
  schedule: string;
  keep: BackupKeep;
  repo: BackupRepo;
  /** Encrypts the repository (restic's password): kept 0600 on the machine, never in argv or logs. */
  password: string;
  /** For S3: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (from the secrets). */
  env?: Record<string, string>;
}

/** One backup's record: what restic made of it. */
export interface BackupRun {
  ok: boolean;
  app: string;
  snapshot?: string;
  /** Bytes read from the source, and bytes the repository grew by (after dedup and compression). */
  bytes?: number;
  added?: number;
  durationMs: number;
  reason?: string;
  /** Snapshots removed by the retention policy after this run. */
  forgot?: number;
  /** Nothing done: the service does not run on this machine (nothing recorded). */
  skipped?: string;
}

export interface VerifyResult {
  ok: boolean;
  snapshot?: string;
  /** postgres: rows per table (database.schema.table) in the dump. volumes: files and bytes read back. */
  tables?: Record<string, number>;
  files?: number;
  bytes?: number;
  reason?: string;
}

export interface Snapshot {
  id: string;
  time: string;
  host: string;
  tags: string[];
  paths: string[];
}

/** The home of the user skiff-backup on a target machine: root's (so are its .ssh and authorized_keys, which the
 *  user can then neither change nor replace); the repositories are under BACKUP_DATA, the user's. */
export const BACKUP_STORE = "/var/lib/skiff/backup-store";
export const BACKUP_DATA = `${BACKUP_STORE}/data`;
export const BACKUP_USER = "skiff-backup";

/** A repository's place under a target: one per project and service. */
export const repoPath = (base: string, project: string, app: string): string => `${base.replace(/\/+$/, "")}/${project}/${app}`;
