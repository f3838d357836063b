// What the person running skiff decides about their own machine, not about the
// project: who they are in the history, which docker, where ssh keeps its
// sockets, which age key, how long skiff.config.ts may take. The environment is
// read here only: the CLI reads it at its top (Skiff.open does too unless given
// `env`); the API runs each call with its own settings, so two Skiff objects in
// one process (a bot serving two teams) do not share them. Deep code asks
// hostSettings() and never reads process.env itself.
import { AsyncLocalStorage } from "node:async_hooks";

export interface HostSettings {
  /** Who deploys, as history and the lock record it (SKIFF_USER; default user@host). */
  user?: string;
  /** The docker command that builds and saves images here (SKIFF_DOCKER; default `docker`). */
  docker?: string;
  /** Directory for ssh ControlMaster sockets (SKIFF_SOCKET_DIR; default $XDG_RUNTIME_DIR/skiff-UID, else in tmp). */
  socketDir?: string;
  /** The age identity itself, for CI (SKIFF_AGE_KEY, taken out of the environment when skiff loads). */
  ageKey?: string;
  /** The age identity file (SKIFF_AGE_IDENTITY; default ~/.config/skiff/age-key.txt). */
  ageIdentityFile?: string;
  /** Deadline in ms for compiling or running skiff.config.ts (SKIFF_CONFIG_TS_TIMEOUT_MS; default 10000). A
   *  string is checked as the variable is, so a typo is an error rather than the default. */
  configTsTimeoutMs?: number | string;
  /** The Node binary setup ships for the agent (SKIFF_AGENT_NODE; default: the one running skiff). */
  agentNode?: string;
  /** $XDG_RUNTIME_DIR, $XDG_CONFIG_HOME and $XDG_CACHE_HOME, where the defaults above live. */
  runtimeDir?: string;
  configHome?: string;
  cacheHome?: string;
}

/** Removes SKIFF_AGE_KEY from `env` and returns it. */
export function takeAgeKey(env: NodeJS.ProcessEnv): string | undefined {
  const key = env.SKIFF_AGE_KEY;
  delete env.SKIFF_AGE_KEY;
  return key?.trim() || undefined;
}

// Taken out of this process's environment when skiff loads, before anything it starts (build scripts, docker,
// ssh, pre_deploy, $EDITOR) could inherit it. It counts only where settings are read from process.env: a Skiff
// opened with an environment of its own (`env: {}`) or given its own key does not see it.
const PROCESS_AGE_KEY = takeAgeKey(process.env);

/** The variables skiff reads, in one place. */
export function settingsFromEnv(env: NodeJS.ProcessEnv): HostSettings {
  const v = (k: string) => env[k] || undefined;
  return {
    user: v("SKIFF_USER"),
    docker: v("SKIFF_DOCKER"),
    socketDir: v("SKIFF_SOCKET_DIR"),
    ageKey: env === process.env ? PROCESS_AGE_KEY : v("SKIFF_AGE_KEY")?.trim() || undefined,
    ageIdentityFile: v("SKIFF_AGE_IDENTITY"),
    configTsTimeoutMs: env.SKIFF_CONFIG_TS_TIMEOUT_MS === "" ? undefined : env.SKIFF_CONFIG_TS_TIMEOUT_MS,
    agentNode: v("SKIFF_AGENT_NODE"),
    runtimeDir: v("XDG_RUNTIME_DIR"),
    configHome: v("XDG_CONFIG_HOME"),
    cacheHome: v("XDG_CACHE_HOME"),
  };
}

const current = new AsyncLocalStorage<HostSettings>();

/** Runs `fn` (and everything it starts) with these settings. */
export function withHostSettings<T>(settings: HostSettings, fn: () => T): T {
  return current.run(settings, fn);
}

/** The settings of the call in progress; outside any (the CLI's own commands, tests), the environment as it is now. */
export function hostSettings(): HostSettings {
  return current.getStore() ?? settingsFromEnv(process.env);
}
