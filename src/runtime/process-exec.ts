// `skiff exec` into a process instance: a command as the instance's user, in its
// working directory, with its environment (secrets included) and inside its
// cgroup limits. Built like the wrapper (wrapper.ts): root runs programs by
// absolute path with its own environment, and the app's environment applies
// only after the privilege drop, read from descriptor 3 (a pipe root fills), so
// no value is ever in a command line or a file.
//
// The command joins a cgroup of its own *under* the instance's: the same limits
// and the same accounting (cgroups are hierarchical), yet the instance's own
// list of processes stays the app's, so the supervisor never takes an open exec
// session for the app still running.
import { mkdirSync, readFileSync, rmdirSync } from "node:fs";
import { join } from "node:path";
import { quote } from "../lib/quote.ts";
import { runAsPrefix } from "./safe-fs.ts";
import { systemBin } from "./system.ts";
import type { AppUser } from "./users.ts";

/** What exec needs of an instance's instance.json (written by process.ts). */
export interface ExecTarget {
  workdir: string;
  env: Record<string, string>;
  user?: AppUser;
  cgroup: { dirs: string[] };
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function readExecTarget(stateDir: string, instance: string): ExecTarget {
  const f = JSON.parse(readFileSync(join(stateDir, "instances", instance, "instance.json"), "utf8")) as ExecTarget;
  if (typeof f.workdir !== "string" || typeof f.env !== "object" || !Array.isArray(f.cgroup?.dirs)) throw new Error(`${instance}: instance.json is not an instance's`);
  return f;
}

/** What the dropped shell evaluates: the env as exports, then the user's argv ("$@" of that shell). */
export function execEnvScript(env: Record<string, string>): string {
  const lines = Object.entries(env).map(([k, v]) => {
    if (!ENV_NAME.test(k)) throw new Error(`env name ${JSON.stringify(k)} is not a valid environment variable name`);
    return `export ${k}=${quote(v)}`;
  });
  return [...lines, "exec 3<&-", 'exec "$@"', ""].join("\n");
}

/** The sub-cgroups one exec session joins (one per hierarchy the instance has). */
export const execCgroups = (t: ExecTarget, id: string) => t.cgroup.dirs.map((d) => join(d, `exec-${id}`));

/**
 * The root shell (`/bin/sh -c SCRIPT sh ARGV…`): joins the sub-cgroups, enters the working directory as root (its
 * parents are root's, so it is the real one), drops to the app's user and reads the env from descriptor 3.
 */
export function execScript(t: ExecTarget, cgroups: string[]): string {
  const runAs = runAsPrefix(t.user).map((a) => `${quote(a)} `).join("");
  return [
    ...cgroups.map((d) => `echo $$ > ${quote(join(d, "cgroup.procs"))} || echo ${quote(`skiff: could not join ${d}`)} >&2`),
    `cd -- ${quote(t.workdir)} && exec ${runAs}/bin/sh -c ${quote(`eval "$(${systemBin("cat")} <&3)"`)} sh "$@"`,
  ].join("\n");
}

/** Makes the sub-cgroups (best effort: where one cannot be made, the command runs without it and says so). */
export function makeExecCgroups(dirs: string[]): string[] {
  return dirs.filter((d) => {
    try {
      mkdirSync(d);
      return true;
    } catch (e) {
      process.stderr.write(`skiff: no cgroup for this command (${(e as Error).message})\n`);
      return false;
    }
  });
}

/** Removes them once empty (a process the command left behind keeps its cgroup; the instance's removal ends it). */
export async function removeExecCgroups(dirs: string[]): Promise<void> {
  for (let n = 0; n < 20; n++) {
    const left = dirs.filter((d) => {
      try {
        rmdirSync(d);
        return false;
      } catch (e) {
        return (e as NodeJS.ErrnoException).code !== "ENOENT";
      }
    });
    if (!left.length) return;
    dirs = left;
    await new Promise((r) => setTimeout(r, 50));
  }
}
