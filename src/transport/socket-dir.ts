// The ControlMaster socket directory. Each socket in it is a logged-in ssh
// session to a machine (as root, often): whoever can put a socket there, or
// swap the directory, can run commands as us or read what we send. In a shared
// /tmp someone may have made `/tmp/skiff-<uid>` before us, so a directory we
// did not just create is used only if it is ours, not a link, and only we can
// write to it.
import { lstatSync, mkdirSync } from "node:fs";
import { UserError } from "../errors.ts";

const HINT = (dir: string) => `remove it (rm -r ${dir}) if you made it, or set SKIFF_SOCKET_DIR to a directory only you can write to`;

/** Makes `dir` (0700) if missing; refuses one that is unsafe to keep sockets in. */
export function ensureSocketDir(dir: string, uid = process.getuid?.()): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    // EEXIST when a file (or a dangling link) is in its place; reported below.
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
  }
  const st = lstatSync(dir);
  const refuse = (why: string) => {
    throw new UserError(`the ssh socket directory ${dir} ${why}; skiff will not keep connections there`, { hint: HINT(dir) });
  };
  if (st.isSymbolicLink()) refuse("is a symbolic link");
  if (!st.isDirectory()) refuse("is not a directory");
  if (uid !== undefined && st.uid !== uid) refuse(`is owned by uid ${st.uid}, not by you (uid ${uid})`);
  if (st.mode & 0o022) refuse(`is writable by others (mode ${(st.mode & 0o7777).toString(8)})`);
}
