// The wrapper of a process instance (run.sh, run by root in the instance's own
// root-only directory) and the app's environment (env.sh, 0600, root's).
//
// The wrapper runs with an environment of its own (the system PATH and the
// instance's name) and every program by absolute path, so nothing in the app's
// env: (PATH, LD_PRELOAD, LD_LIBRARY_PATH, …) or in its working directory chooses
// what root runs or loads. The app's environment applies only after the privilege
// drop: root opens env.sh as descriptor 3 and the dropped shell reads it from
// there, so the values are never in a command line (/proc/*/cmdline is world-
// readable) and the app's user needs no access to root's directory.
import { join } from "node:path";
import { quote } from "../lib/quote.ts";
import { runAsPrefix } from "./safe-fs.ts";
import { systemBin } from "./system.ts";
import type { AppUser } from "./users.ts";

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * What the dropped shell evaluates: the app's env as exports (single-quoted, so any byte but NUL survives),
 * then the app's command.
 */
export function envScript(env: Record<string, string>, command: string): string {
  const lines = Object.entries(env).map(([k, v]) => {
    if (!NAME.test(k)) throw new Error(`env name ${JSON.stringify(k)} is not a valid environment variable name`);
    return `export ${k}=${quote(v)}`;
  });
  return [...lines, "exec 3<&-", `exec /bin/sh -c ${quote(command)}`, ""].join("\n");
}

/** run.sh: joins the instance's cgroups, runs the app in the foreground (as `user`), records its exit code. */
export function wrapperScript(o: { name: string; dir: string; workdir: string; cgroupProcs: string[]; user: AppUser | undefined }): string {
  const q = (f: string) => quote(join(o.dir, f));
  const runAs = runAsPrefix(o.user).map((a) => `${quote(a)} `).join("");
  const [rm, mv, cat] = ["rm", "mv", "cat"].map(systemBin);
  return [
    "#!/bin/sh",
    `# skiff instance ${o.name}: joins its cgroups, runs the app in the foreground, records its exit code.`,
    ...o.cgroupProcs.map((p) => `echo $$ > ${quote(p)} || echo ${quote(`skiff: could not join ${p}`)} >&2`),
    `${rm} -f ${q("exit")}`,
    // A handler (not "ignore") so the wrapper outlives a TERM to the group while children get the default.
    "trap : TERM INT HUP",
    // Root enters the working directory (its parents are root's, so it is the real one, and the app's user need not
    // be able to pass through root's directories) in a subshell that becomes the app: the wrapper stays in its own.
    `(cd -- ${quote(o.workdir)} && exec ${runAs}/bin/sh -c ${quote(`eval "$(${cat} <&3)"`)} 3< ${q("env.sh")})`,
    "code=$?",
    `echo "$code" > ${q("exit.tmp")} && ${mv} -f ${q("exit.tmp")} ${q("exit")}`,
    "",
  ].join("\n");
}
