// Each process app runs as a system user of its own (skiff-<project>-<app>), so
// apps on one machine cannot read each other's /proc/PID/environ, signal each
// other or write each other's directories. The agent makes the user the first
// time an instance of the app starts; an explicit `user:` names an existing one.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";

export interface AppUser {
  name: string;
  uid: number;
  gid: number;
}

const MAX = 32; // useradd's limit on Linux

/** skiff-<project>-<app>; past 32 characters, a prefix of it and a short hash of both names. */
export function appUserName(project: string, app: string): string {
  const full = `skiff-${project}-${app}`;
  if (full.length <= MAX) return full;
  const hash = createHash("sha256").update(`${project}\0${app}`).digest("hex").slice(0, 8);
  return `${full.slice(0, MAX - hash.length - 1).replace(/-+$/, "")}-${hash}`;
}

export function lookupUser(name: string, passwd = "/etc/passwd"): AppUser | undefined {
  for (const line of readFileSync(passwd, "utf8").split("\n")) {
    const f = line.split(":");
    if (f[0] === name) return { name, uid: Number(f[2]), gid: Number(f[3]) };
  }
  return undefined;
}

/** The app's own user, made when missing: a system user with a group of its own, no home and no login shell. */
export function ensureAppUser(name: string): AppUser {
  const known = lookupUser(name);
  if (known) return known;
  const nologin = ["/usr/sbin/nologin", "/sbin/nologin"].find((s) => spawnSync("test", ["-x", s]).status === 0) ?? "/bin/false";
  const r = spawnSync("useradd", ["--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent", "--shell", nologin, "--comment", "skiff app", "--", name], { encoding: "utf8" });
  // Another start of the same app may have made it meanwhile (useradd exits 9 then).
  const made = lookupUser(name);
  if (made) return made;
  const why = r.error ? (r.error as NodeJS.ErrnoException).code === "ENOENT" ? "useradd is not installed" : r.error.message : r.stderr.trim() || `useradd exited with ${r.status}`;
  throw new Error(`cannot make the app's user ${name}: ${why} (make it by hand, or set user: in skiff.yml)`);
}
