// What root does inside a directory an app can write, it does as the app's user:
// placing a release's files and linking its volumes. A link the app planted
// (config/app.env -> /root/secret, or a parent directory swapped for a link, even
// while we work) then leads only where the app could write anyway, and the
// kernel's permission checks protect everything else. No check-then-use window
// to race, unlike lstat + open in root's name.
import { normalize } from "node:path";
import { runSystem, systemBin } from "./system.ts";
import type { AppUser } from "./users.ts";

/** setpriv's argv prefix for running as `user`; none when we run as ourselves (no user, or the agent is not root). */
export function runAsPrefix(user: AppUser | undefined): string[] {
  return user ? [systemBin("setpriv"), `--reuid=${user.uid}`, `--regid=${user.gid}`, "--clear-groups", "--"] : [];
}

/** A path inside the working directory, relative to it ("/etc/x" means <workdir>/etc/x, as always); never above it. */
export function insidePath(path: string, what: string): string {
  const rel = normalize(path.replace(/^\/+/, ""));
  if (rel === "." || rel === ".." || rel.startsWith("../")) throw new Error(`${what} ${path} is not inside the working directory`);
  return rel;
}

function run(user: AppUser | undefined, workdir: string, script: string, args: string[], input: Buffer | undefined, what: string): void {
  const argv = [...runAsPrefix(user), "/bin/sh", "-c", script, "sh", ...args];
  // cwd is entered by root before setpriv: the working directory's parents are root's, so it is the real one.
  const r = runSystem(argv, what, { cwd: workdir, input, allowFail: true });
  if (r.status === 0) return;
  const err = r.stderr.trim() || `exit ${r.status}`;
  const hint = /Permission denied/.test(err) ? " (the app's user cannot write there: the path, or a directory on it, may be a link the app made)" : "";
  throw new Error(`${what} as ${user?.name ?? "root"}: ${err}${hint}`);
}

// The new content goes to a temporary file beside the target, then replaces it with
// rename(2), which replaces a link at the target rather than writing through it.
const PLACE = `set -e
d=$(dirname -- "$1")
mkdir -p -- "$d"
t="$d/.skiff-new-$$"
if (umask 077 && cat > "$t") && chmod -- "$2" "$t" && mv -fT -- "$t" "$1"; then exit 0; fi
rm -f -- "$t"
exit 1`;

/** Writes `content` at `path` in the working directory with `mode`, as `user` (who then owns it). */
export function placeFile(user: AppUser | undefined, workdir: string, path: string, content: Buffer, mode: number): void {
  const rel = insidePath(path, "file");
  run(user, workdir, PLACE, [rel, mode.toString(8)], content, `cannot place ${rel} in the working directory`);
}

const LINK = `set -e
mkdir -p -- "$(dirname -- "$1")"
if [ -L "$1" ] && [ "$(readlink -- "$1")" = "$2" ]; then exit 0; fi
rm -rf -- "$1"
ln -s -- "$2" "$1"`;

/** Makes `path` in the working directory a link to `target` (whatever was there goes), as `user`. */
export function linkVolume(user: AppUser | undefined, workdir: string, name: string, path: string, target: string): void {
  const rel = insidePath(path, "volume path");
  run(user, workdir, LINK, [rel, target], undefined, `cannot link volume ${name} at ${rel}`);
}
