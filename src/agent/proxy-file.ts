// The proxy state on disk: haproxy.cfg (always a mirror of the live state, so a
// restart comes back identical) and state.json, the state it was rendered from.
// Both are replaced atomically; a damaged state.json is rebuilt from the copy
// of the state on haproxy.cfg's first line.
import { existsSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { logTargetProblem, renderConfig } from "../proxy/config.ts";
import type { ProxyState } from "../proxy/model.ts";
import { writeAtomic } from "./atomic-write.ts";
import type { ProxyPaths } from "./haproxy-process.ts";

/** The first line of haproxy.cfg carries the state it was rendered from: a damaged state.json is rebuilt from it. */
const STATE_LINE = "# skiff-proxy-state ";

/** A parsed state file, checked for the shape the controller relies on. */
function validState(v: unknown): ProxyState {
  const s = v as ProxyState;
  if (!s || typeof s !== "object" || !Array.isArray(s.backends) || !s.backends.every((b) => b && typeof b.name === "string" && Array.isArray(b.slots) && Array.isArray(b.routes))) throw new Error("not a proxy state");
  return s;
}

export class ProxyStateFile {
  private saidLogProblem = false;

  constructor(
    private readonly paths: ProxyPaths,
    private readonly log: (s: string) => void,
  ) {}

  get cfgPath(): string {
    return join(this.paths.dir, "haproxy.cfg");
  }
  private get statePath(): string {
    return join(this.paths.dir, "state.json");
  }

  /** The saved state; a damaged or missing state.json is reported and the state comes from haproxy.cfg's first line
   *  instead (a missing one taken for a new machine would make the next reload drop every other app's backend). */
  read(): ProxyState | undefined {
    let text: string | undefined;
    try {
      text = readFileSync(this.statePath, "utf8");
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT" && !existsSync(this.cfgPath)) return undefined; // never saved: a new machine
      this.log(`proxy: ${this.statePath} is ${code === "ENOENT" ? "missing" : `unreadable (${code})`}; rebuilding the proxy state from ${this.cfgPath}`);
    }
    if (text !== undefined) {
      try {
        return validState(JSON.parse(text));
      } catch (e) {
        this.log(`proxy: ${this.statePath} is damaged (${(e as Error).message}); rebuilding the proxy state from ${this.cfgPath}`);
      }
    }
    try {
      const line = readFileSync(this.cfgPath, "utf8").split("\n").find((l) => l.startsWith(STATE_LINE));
      if (!line) throw new Error("it carries no saved state");
      return validState(JSON.parse(line.slice(STATE_LINE.length)));
    } catch (e) {
      this.log(`proxy: cannot rebuild from ${this.cfgPath} either (${(e as Error).message}); starting with no backends: each app's next activation adds its own again`);
      return undefined;
    }
  }

  /** True when haproxy.cfg is not what this agent would write for the state (an agent whose rendering changed,
   *  e.g. request logging added): the running HAProxy then runs an older file and is reloaded once. */
  stale(state: ProxyState): boolean {
    try {
      return readFileSync(this.cfgPath, "utf8") !== `${STATE_LINE}${JSON.stringify(state)}\n${renderConfig(state, this.paths)}`;
    } catch {
      return false;
    }
  }

  /** Writes haproxy.cfg and the state it came from. `check` (HAProxy's own, when the structure changed) sees the
   *  new file before it replaces the old one; a refused file is removed and nothing changes. */
  async write(state: ProxyState, check?: (cfgPath: string) => Promise<void>): Promise<void> {
    const logProblem = logTargetProblem(this.paths);
    if (logProblem && !this.saidLogProblem) {
      this.saidLogProblem = true;
      this.log(`proxy: ${logProblem}`);
    }
    const text = `${STATE_LINE}${JSON.stringify(state)}\n${renderConfig(state, this.paths)}`;
    const tmp = `${this.cfgPath}.new`;
    // Not synced: state.json, written (and synced) right after, is what a restart reads, and its directory's sync
    // covers this rename too; the file is rendered from it again wherever it differs (sync(), ensureRunning()).
    // Two syncs fewer per slot change: an activation makes several, on every machine at once.
    writeAtomic(tmp, text, { durable: false });
    if (check) {
      try {
        await check(tmp);
      } catch (e) {
        rmSync(tmp, { force: true });
        throw e;
      }
    }
    renameSync(tmp, this.cfgPath);
    writeAtomic(this.statePath, JSON.stringify(state, null, 2));
  }
}
