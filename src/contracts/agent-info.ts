// What an agent says about itself (the `version` call): setup compares it with the bundle it ships.

export interface AgentInfo {
  version: string;
  /** sha256 of the running agent file: setup restarts an agent whose file changed. */
  sha256: string;
  node: string;
  pid: number;
  startedAt: string;
}
