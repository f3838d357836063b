// The first thing a command that talks to the machines does is wait for ssh: a cold `skiff status` was the CLI's
// start (~0.3 s of loading its code) and then the ssh handshakes (~0.5 s), one after the other. The launcher
// (bin/skiff.js) calls this before it loads the CLI: when the command's project (the same config text, path,
// environment and skiff build as the checked-project cache's key) was run before, the forwards that run used
// (agent-forward.ts; their machines' names are kept under that key in the user's own cache folder, the ssh
// argv built again from the cached checked project) are started now, so the handshakes run
// while the CLI loads. The CLI's openForward then waits for them (or takes the connection made here) instead of
// starting its own. Anything unexpected here (no such record, an unsafe socket folder, a parse of
// the arguments that is not certain) means nothing is started: the command runs as it would without this.
import { resolve } from "node:path";
import { findConfig, readConfigText } from "../config/find.ts";
import { projectCachePlace } from "../config/cache-place.ts";
import { readCachedForwards, readCachedProject } from "../config/project-cache.ts";
import { startForward } from "../transport/agent-forward.ts";
import { sshContext } from "../transport/connect.ts";
import { ensureSocketDir } from "../transport/socket-dir.ts";
import { forwardSpec } from "../transport/ssh.ts";

/** Commands that reach the agents over the forwards. */
const TALKS_TO_MACHINES = new Set(["status", "history", "logs", "top", "metrics", "lock", "alerts", "certs", "deploy", "rollback", "scale", "restart", "plan", "backup", "accessory", "remove", "dashboard"]);

/** The global options before the command, as main.ts declares them; undefined when the line is not that simple:
 *  an option it does not know before the command, or after it one that chooses the project or environment
 *  (commander takes them there too) or asks for help. */
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
    else {
      const rest = args.slice(i + 1);
      if (rest.some((r) => /^(-[ech]|--(config|env|help)(=|$))/.test(r))) return undefined;
      return { command: a, config, env };
    }
  }
  return undefined;
}

export function prewarm(args: readonly string[]): void {
  try {
    const cmd = commandOf(args);
    const place = projectCachePlace();
    if (!place || !cmd || !TALKS_TO_MACHINES.has(cmd.command) || cmd.config === "" || cmd.env === "") return;
    const file = cmd.config !== undefined ? resolve(cmd.config) : findConfig();
    if (file.endsWith(".ts")) return;
    const input = { text: readConfigText(file), file, environment: cmd.env, ...place };
    const names = readCachedForwards(input);
    // The machines' ssh argv is built again from the checked project (the same cache, the same key), by the
    // transport's own code: the record holds nothing but names.
    const project = names?.length ? readCachedProject(input) : undefined;
    if (!project) return;
    const ctx = sshContext(project);
    const forwards = names!.flatMap((n) => {
      const m = project.machines[n];
      const f = m && forwardSpec(m, ctx);
      return f ? [f] : [];
    });
    if (!forwards.length) return;
    ensureSocketDir(ctx.socketDir);
    for (const f of forwards) startForward(f);
  } catch {
    // The command itself finds and reports whatever is wrong.
  }
}
