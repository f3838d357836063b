// The first thing a command that talks to the machines does is wait for ssh: a cold `skiff status` was the CLI's
// start (~0.3 s of loading its code) and then the ssh handshakes (~0.5 s), one after the other. The launcher
// (bin/skiff.js) calls this before it loads the CLI: when the command's project (the same config text, path,
// environment and skiff build as the checked-project cache's key) was run before, the forwards that run used
// (agent-forward.ts, kept under that key in the user's own cache folder) are started now, so the handshakes run
// while the CLI loads. The CLI's openForward then waits for them (or takes the connection made here) instead of
// starting its own. Anything unexpected here (no such record, another socket folder, an unsafe one, a parse of
// the arguments that is not certain) means nothing is started: the command runs as it would without this.
import { dirname, resolve } from "node:path";
import { findConfig, readConfigText } from "../config/find.ts";
import { projectCachePlace } from "../config/cache-place.ts";
import { readCachedForwards } from "../config/project-cache.ts";
import { startForward } from "../transport/agent-forward.ts";
import { defaultSocketDir } from "../transport/ssh-args.ts";
import { ensureSocketDir } from "../transport/socket-dir.ts";
import { settingsFromEnv } from "../settings.ts";

/** Commands that reach the agents over the forwards (and take -c/-e like every command). */
const TALKS_TO_MACHINES = new Set(["status", "history", "logs", "top", "metrics", "lock", "alerts", "certs", "deploy", "rollback", "scale", "restart", "plan", "backup", "accessory", "remove", "dashboard"]);

/** The global options before the command, as main.ts declares them; undefined when the line is not that simple. */
export function commandOf(args: readonly string[]): { command: string; config?: string; env?: string } | undefined {
  let config: string | undefined;
  let env: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const eq = /^(--config|--env)=(.*)$/.exec(a);
    if (eq) (eq[1] === "--config" ? (config = eq[2]) : (env = eq[2]));
    else if (a === "-c" || a === "--config") config = args[++i];
    else if (a === "-e" || a === "--env") env = args[++i];
    else if (a === "--json") continue;
    else if (a.startsWith("-")) return undefined;
    else return { command: a, config, env };
  }
  return undefined;
}

export function prewarm(args: readonly string[]): void {
  try {
    const cmd = commandOf(args);
    const place = projectCachePlace();
    if (!place || !cmd || !TALKS_TO_MACHINES.has(cmd.command) || cmd.config === "") return;
    const file = cmd.config !== undefined ? resolve(cmd.config) : findConfig();
    if (file.endsWith(".ts")) return;
    const forwards = readCachedForwards({ text: readConfigText(file), file, environment: cmd.env, ...place });
    const socketDir = settingsFromEnv(process.env).socketDir || defaultSocketDir();
    const mine = forwards?.filter((f) => dirname(f.local) === socketDir) ?? [];
    if (!mine.length) return;
    ensureSocketDir(socketDir);
    for (const f of mine) startForward(f);
  } catch {
    // The command itself finds and reports whatever is wrong.
  }
}
