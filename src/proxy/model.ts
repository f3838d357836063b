// The proxy state the agent owns; haproxy.cfg is rendered from it, and the
// Runtime API changes the running HAProxy to match it.

export type SlotState = "ready" | "drain" | "maint";

export interface Slot {
  /** s1, s2, … */
  name: string;
  addr: string;
  port: number;
  state: SlotState;
  /** Instance using the slot, if any. */
  instance?: string;
  /** A backup slot takes traffic only when every primary slot is down. */
  backup?: boolean;
  /** An instance of this app on another machine (used while this machine runs none). */
  peer?: boolean;
}

export interface ProxyBackend {
  /** skiff_<project>_<app> */
  name: string;
  routes: { host?: string; path: string }[];
  healthPath: string;
  intervalMs: number;
  /** Public port this app is reached on (http_port); absent: the agent's default. */
  httpPort?: number;
  slots: Slot[];
}

export interface ProxyState {
  /** Default public port (80, or the agent's SKIFF_HTTP_PORT). */
  httpPort: number;
  backends: ProxyBackend[];
}

export const backendName = (project: string, app: string) => `skiff_${project}_${app}`.replace(/-/g, "_");
export const MIN_SLOTS = 8;
export const MIN_BACKUP_SLOTS = 4;
