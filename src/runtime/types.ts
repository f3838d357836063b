// One interface for every runtime (Docker now, processes later): the deploy
// logic in the agent never knows which one it drives.

import type { Limits, RuntimeKind } from "../contracts/model.ts";

export type { RuntimeKind };

export interface StartSpec {
  name: string;
  /** What to run: an image ID for Docker; "artifact:<sha256>" or "none" for a process. */
  image: string;
  /** Process runtime: the shell command line (`run:`). */
  command?: string;
  /** Process runtime: the user the command runs as (when the agent is root). */
  user?: string;
  limits?: Limits;
  /** Files to place in the instance: `hostPath` on the machine appears at `path`. */
  files?: { path: string; hostPath: string; mode: number }[];
  /** Named volumes (the runtime names and keeps them per project and app). */
  volumes?: { name: string; path: string }[];
  /** A one-off run of `command` (a hook): no port, not restarted; Docker runs it with /bin/sh -c. */
  oneOff?: boolean;
  /** Docker: a one-off made to be attached to (`docker start -a`, skiff run): created, not started. */
  attach?: { stdin: boolean; tty: boolean };
  /** The port the app listens on inside a container (Docker); a process listens on hostPort. Each runtime sets PORT. */
  containerPort: number;
  hostPort: number;
  bindAddress: string;
  env: Record<string, string>;
  labels: Record<string, string>;
  /** The signal `stop` sends first (default SIGTERM). */
  stopSignal?: string;
}

export interface InstanceStatus {
  exists: boolean;
  running: boolean;
  exitCode: number | null;
  oomKilled: boolean;
  startedAt?: string;
  finishedAt?: string;
  /** Something status should say, e.g. that limits are not enforced here. */
  note?: string;
}

export interface Runtime {
  /** Where an instance asked to listen on `bind` is really published, when the runtime knows better (Docker:
   *  loopback becomes the bridge's gateway, see docker.ts). */
  publishAddress?(bind: string): Promise<string>;
  start(spec: StartSpec): Promise<void>;
  /** Starts an existing, stopped instance again (same port and config). */
  restart(name: string): Promise<void>;
  stop(name: string, timeoutS: number): Promise<void>;
  remove(name: string): Promise<void>;
  status(name: string): Promise<InstanceStatus>;
  logs(name: string, lines: number): Promise<string>;
  /** Names of instances carrying these labels, running or not. */
  list(labels: Record<string, string>): Promise<string[]>;
  hasImage(image: string): Promise<boolean>;
  imageId?(ref: string): Promise<string | undefined>;
  /** Removes an image no kept release uses (best effort). */
  removeImage?(image: string): Promise<void>;
  /** Frees what a pruned release left (a process release's working directory). */
  dropRelease?(project: string, app: string, release: number): Promise<void>;
  /** The instance's cgroup directories (for the metrics sampler); empty when it has none or is not running. */
  cgroupDirs?(name: string): Promise<string[]>;
  /** Periodic housekeeping (log rotation). */
  maintain?(): Promise<void>;
  /** Where a named volume's files are on this machine (backups read and restore them there). */
  volumePath?(project: string, app: string, name: string): Promise<string>;
  /** Calls `onExit` with an instance's name when its process ends, where the runtime sees that as an event. */
  watchExits?(onExit: (name: string) => void): void;
  /** Whether the instance's end (or any change to whether it runs) will reach `onExit` as an event: then nobody
   *  needs to look at it between its health probes. */
  exitsWatched?(name: string): boolean;
}
