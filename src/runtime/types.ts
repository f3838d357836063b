// One interface for every runtime (Docker now, processes later): the deploy
// logic in the agent never knows which one it drives.

export interface StartSpec {
  name: string;
  /** What to run: an image ID for Docker. */
  image: string;
  containerPort: number;
  hostPort: number;
  bindAddress: string;
  env: Record<string, string>;
  labels: Record<string, string>;
}

export interface InstanceStatus {
  exists: boolean;
  running: boolean;
  exitCode: number | null;
  oomKilled: boolean;
  startedAt?: string;
  finishedAt?: string;
}

export interface Runtime {
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
}
