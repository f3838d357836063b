// A process release's working directory (made once per release): its artifact's
// files as hard links to the one unpacked copy (root's, read-only to the app, so
// releases share them and no release can change another's code) in directories of
// the app's own user, then its files, and links to its volumes. A release costs its
// directories and its own files, not another copy of node_modules.
//
//   <state>/work/<project>/<app>/<release>/   the app's (0750): it writes here, so root only acts in it as the app
//   <state>/volumes/<project>/<app>/<name>/   the app's (0750), kept across releases; parents are root's
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { linkVolume, placeFile } from "./safe-fs.ts";
import { runSystem } from "./system.ts";
import type { StartSpec } from "./types.ts";
import type { AppUser } from "./users.ts";

/** The instance's project and app, from its labels ("_" for an instance started without them, as in tests). */
export const projectApp = (labels: Record<string, string>): [project: string, app: string] => [labels["skiff.project"] ?? "_", labels["skiff.app"] ?? "_"];
const names = (s: StartSpec) => projectApp(s.labels);
const sh = (argv: string[], what: string) => void runSystem(argv, what);

/** The release's working directory, made once: linked and given to the user in a root-only staging directory, so the app cannot reach it (and race the chown) until it is complete. */
export function releaseWorkdir(base: string, s: StartSpec, artifactDir: string | undefined, user: AppUser | undefined): string {
  const dir = join(base, "work", ...names(s), s.labels["skiff.release"] ?? "0");
  let st;
  try {
    st = lstatSync(dir);
  } catch {}
  if (st) {
    // Made for another user (an older agent's user name for the app, or before apps had users of their own).
    if (user && st.uid !== user.uid) handOver(dir, st.uid, user, "working directory");
    return dir;
  }
  mkdirSync(dirname(dir), { recursive: true, mode: 0o755 }); // root's; apps pass through to their own release
  const stage = mkdtempSync(join(dirname(dir), ".stage-")); // 0700
  try {
    const tmp = join(stage, "w");
    const linked = artifactDir ? linkArtifact(artifactDir, tmp) : (mkdirSync(tmp), true);
    if (user) {
      // Linked: only the directories become the app's; the files stay root's, shared with the artifact.
      const chown = linked ? ["find", "-P", tmp, "-type", "d", "-exec", "chown", "-h", `${user.uid}:${user.gid}`, "--", "{}", "+"] : ["chown", "-R", "-P", `${user.uid}:${user.gid}`, "--", tmp];
      sh(chown, `cannot give the working directory to ${user.name}`);
      chmodSync(tmp, 0o750); // other apps' users may not read it
    }
    renameSync(tmp, dir);
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
  return dir;
}

/**
 * The artifact's tree at `dest`: its directories made afresh, its files hard links. The artifact's modes are made
 * safe to share first (readable, executable where they were, never writable by the app, no setuid/setgid/sticky:
 * the files stay root's). False when linking is impossible (another file system): then a copy, as before.
 */
function linkArtifact(artifactDir: string, dest: string): boolean {
  sh(["chmod", "-R", "u=rwX,go=rX,a-st", "--", artifactDir], `cannot set the modes of artifact ${artifactDir}`);
  const r = runSystem(["cp", "-a", "--link", "--", artifactDir, dest], `cannot link artifact ${artifactDir}`, { allowFail: true });
  if (r.status === 0) return true;
  rmSync(dest, { recursive: true, force: true });
  sh(["cp", "-a", "--", artifactDir, dest], `cannot copy artifact ${artifactDir}`);
  return false;
}

/** Files are copied into the working directory and volumes linked there, as the app's user; volume directories are made by root in root's tree. */
export function placeFilesAndVolumes(base: string, s: StartSpec, workdir: string, user: AppUser | undefined): void {
  for (const f of s.files ?? []) placeFile(user, workdir, f.path, readFileSync(f.hostPath), f.mode);
  for (const v of s.volumes ?? []) {
    const dir = join(base, "volumes", ...names(s), v.name);
    volumeDir(dir, user);
    linkVolume(user, workdir, v.name, v.path, dir);
  }
}

function volumeDir(dir: string, user: AppUser | undefined): void {
  let st;
  try {
    st = lstatSync(dir);
  } catch {
    mkdirSync(dirname(dir), { recursive: true, mode: 0o755 }); // parents stay traversable for the app's user
    mkdirSync(dir, { mode: 0o750 });
    st = lstatSync(dir);
  }
  if (!st.isDirectory()) throw new Error(`volume ${dir} is not a directory`);
  if (user && st.uid !== user.uid) handOver(dir, st.uid, user, "volume");
}

/**
 * A new owner (a directory made for another user: an older agent's name for the app's user, or nobody before apps
 * had users of their own): only what the old owner owned changes hands. chown -R -P never follows a link and works
 * from directory descriptors, so the old owner's processes cannot steer it elsewhere.
 */
function handOver(dir: string, from: number, user: AppUser, what: string): void {
  sh(["chown", "-R", "-P", `--from=${from}`, `${user.uid}:${user.gid}`, "--", dir], `cannot give ${what} ${dir} to ${user.name}`);
  chmodSync(dir, 0o750);
}
