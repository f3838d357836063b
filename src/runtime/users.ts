// Each process app runs as a system user of its own (skiff_<project>_<app>), so
// apps on one machine cannot read each other's /proc/PID/environ, signal each
// other or write each other's directories. The agent makes the user the first
// time an instance of the app starts; an explicit `user:` names an existing one.
// The account's comment marks whose it is ("skiff app <project>/<app>"): an
// account of that name made by anyone else is refused, never adopted.
import { createHash } from "node:crypto";
import { runSystem } from "./system.ts";

export interface AppUser {
  name: string;
  uid: number;
  gid: number;
}

const MAX = 32; // useradd's limit on Linux

/**
 * skiff_<project>_<app>. Project and app names are [a-z][a-z0-9-]*, so "_" separates them unambiguously. Past 32
 * characters: a prefix, "__" (which no full name holds) and a hash of both names.
 */
export function appUserName(project: string, app: string): string {
  const full = `skiff_${project}_${app}`;
  if (full.length <= MAX) return full;
  const hash = createHash("sha256").update(`${project}\0${app}`).digest("hex").slice(0, 10);
  return `${full.slice(0, MAX - hash.length - 2).replace(/[-_]+$/, "")}__${hash}`;
}

/** The comment that marks the account as skiff's user for this app. */
export const appUserMark = (project: string, app: string) => `skiff app ${project}/${app}`;

interface PasswdEntry extends AppUser {
  gecos: string;
}

/** The account from the system's user database (getent: /etc/passwd and whatever NSS adds). */
export function lookupUser(name: string): PasswdEntry | undefined {
  const r = runSystem(["getent", "passwd", "--", name], `cannot look up user ${name}`, { allowFail: true });
  if (r.status === 2) return undefined; // not found
  if (r.status !== 0) throw new Error(`cannot look up user ${name}: ${r.stderr.trim() || `getent exited with ${r.status}`}`);
  const f = r.stdout.trim().split("\n")[0]!.split(":");
  return { name, uid: Number(f[2]), gid: Number(f[3]), gecos: f[4] ?? "" };
}

const sleepSync = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** The app's own user, made when missing: a system user with a group of its own, no home and no login shell. */
export function ensureAppUser(project: string, app: string): AppUser {
  const name = appUserName(project, app);
  const mark = appUserMark(project, app);
  const ours = (u: PasswdEntry): AppUser => {
    if (u.gecos !== mark) {
      throw new Error(`user ${name} exists on this machine but is not skiff's user for app ${app} of project ${project} (its comment is ${JSON.stringify(u.gecos)}, not ${JSON.stringify(mark)}): remove or rename that account, or set user: in skiff.yml`);
    }
    return { name: u.name, uid: u.uid, gid: u.gid };
  };
  const known = lookupUser(name);
  if (known) return ours(known);
  const nologin = ["/usr/sbin/nologin", "/sbin/nologin"].find((s) => runSystem(["test", "-x", s], "test", { allowFail: true }).status === 0) ?? "/bin/false";
  let why = "";
  // useradd exits 10 while another program holds the passwd lock: try again a few times.
  for (let attempt = 0; attempt < 5; attempt++) {
    if (attempt) sleepSync(200 * attempt);
    let r;
    try {
      r = runSystem(["useradd", "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent", "--shell", nologin, "--comment", mark, "--", name], "useradd", { allowFail: true });
    } catch (e) {
      why = /not installed/.test((e as Error).message) ? "useradd is not installed" : (e as Error).message;
      break;
    }
    // Another start of the same app may have made it meanwhile (useradd exits 9 then).
    const made = lookupUser(name);
    if (made) return ours(made);
    why = r.stderr.trim() || `useradd exited with ${r.status}`;
    if (r.status !== 10) break;
  }
  throw new Error(`cannot make the app's user ${name}: ${why} (make it by hand with the comment "${mark}", or set user: in skiff.yml)`);
}
