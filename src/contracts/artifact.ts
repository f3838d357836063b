// Artifacts of process apps: a directory (made by an optional build command),
// named by a hash of its content, packed with tar for shipping. The agent
// computes the same hash after unpacking, so what runs is what was built.
import { createHash } from "node:crypto";
import { lstatSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join, relative } from "node:path";

/** Names never shipped: version control and skiff's own local state. */
export const ARTIFACT_EXCLUDES = [".git", ".skiff"];

/**
 * sha256 over every entry (path, type, executable bit, content or link target), in name order. `skip` leaves out
 * entries by their path relative to `root` (a skipped directory with everything in it).
 */
export function hashTree(root: string, skip?: (rel: string) => boolean): string {
  const h = createHash("sha256");
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      if (dir === root && ARTIFACT_EXCLUDES.includes(name)) continue;
      const full = join(dir, name);
      const rel = relative(root, full);
      if (skip?.(rel)) continue;
      const st = lstatSync(full);
      if (st.isSymbolicLink()) h.update(`l ${rel} ${readlinkSync(full)}\n`);
      else if (st.isDirectory()) {
        h.update(`d ${rel}\n`);
        walk(full);
      } else if (st.isFile()) h.update(`f ${rel} ${st.mode & 0o111 ? "x" : "-"} ${createHash("sha256").update(readFileSync(full)).digest("hex")}\n`);
    }
  };
  walk(root);
  return h.digest("hex");
}

/** tar arguments that pack `dir` the same way every time (the agent checks the hash, not the bytes), to stdout or to `file`. */
export function tarPackArgs(dir: string, file = "-"): string[] {
  return ["-C", dir, "--sort=name", "--owner=0", "--group=0", "--numeric-owner", ...ARTIFACT_EXCLUDES.map((e) => `--exclude=./${e}`), "-czf", file, "."];
}
