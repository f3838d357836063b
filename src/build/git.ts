// The git state an image tag is made from: short commit, and for a dirty tree
// a hash of its changes, so the same dirty tree gives the same tag.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";

export interface GitState {
  commit: string;
  dirty: boolean;
  /** Hash of uncommitted changes (tracked diff + untracked files), when dirty. */
  changesHash?: string;
}

const git = (dir: string, args: string[]) => execFileSync("git", ["-C", dir, ...args], { encoding: "buffer", stdio: ["ignore", "pipe", "ignore"], maxBuffer: 256 * 1024 * 1024 });

export function gitState(dir: string): GitState | undefined {
  let commit: string;
  try {
    commit = git(dir, ["rev-parse", "--short=12", "HEAD"]).toString().trim();
  } catch {
    return undefined;
  }
  const status = git(dir, ["status", "--porcelain", "--untracked-files=all", "--", "."]).toString();
  if (!status.trim()) return { commit, dirty: false };
  const h = createHash("sha256").update(git(dir, ["diff", "HEAD", "--binary", "--", "."]));
  const top = git(dir, ["rev-parse", "--show-toplevel"]).toString().trim();
  for (const f of git(dir, ["ls-files", "--others", "--exclude-standard", "--full-name", "--", "."]).toString().split("\n").filter(Boolean).sort()) {
    h.update(f + "\0");
    try {
      h.update(readFileSync(join(top, f)));
    } catch {}
  }
  return { commit, dirty: true, changesHash: h.digest("hex").slice(0, 8) };
}
