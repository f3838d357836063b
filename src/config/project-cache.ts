// skiff.yml's checked project, kept between runs so a command that only asks the machines (status, history)
// starts without parsing YAML or building the schema. The key is everything the project is made from: the
// file's text and absolute path (paths in it resolve from there), the environment (-e) and the skiff build (its
// version and a hash of its sources: another skiff may check or normalize differently). A cache file that cannot
// be read, is torn, has another key or the wrong shape is a miss, never an error, and a cache that cannot be
// written only costs the next run its parse.
//
// A hit skips every check (ssh options included), so only this user's skiff may have written the file: it
// lives in the user's own cache folder (~/.cache/skiff/projects), never in the project, where a file could
// arrive through git, and is used only from a folder this user owns that no one else can write. It holds what
// skiff.yml holds (secret values stay in secrets/*.age), written 0600 all the same.
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { lookupSafe } from "./lookup-safe.ts";
import type { Project } from "./model.ts";

export interface CacheInput {
  /** skiff.yml's text as read now. */
  text: string;
  /** Its absolute path. */
  file: string;
  environment?: string;
  /** The skiff build: its version and source hash. */
  build: string;
  /** The folder of cache files (the user's own). */
  dir: string;
}

const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

/** One file per config file and environment: switching `-e` back and forth keeps both. `kind`: the checked project,
 *  or the ssh forwards its last command used (prewarm.ts), under the same key. */
export function cachePath(i: Pick<CacheInput, "file" | "environment" | "dir">, kind: "project" | "forwards" = "project"): string {
  return join(i.dir, `${kind}-${sha256(JSON.stringify([i.file, i.environment ?? null])).slice(0, 16)}.json`);
}

export function cacheKey(i: CacheInput): string {
  return sha256(JSON.stringify([i.build, i.file, i.environment ?? null, i.text]));
}

/** The project checked from exactly this input before, or undefined. */
export function readCachedProject(i: CacheInput): Project | undefined {
  if (!ownPrivateFolder(i.dir)) return undefined;
  let stored: unknown;
  try {
    stored = JSON.parse(readFileSync(cachePath(i), "utf8"));
  } catch {
    return undefined;
  }
  if (!isRecord(stored) || stored.key !== cacheKey(i) || !looksLikeProject(stored.project)) return undefined;
  return lookupSafe({ ...stored.project, file: i.file, dir: dirname(i.file) });
}

/** Stores the project checked from `i`; best effort (no writable cache folder: the next run checks again). */
export function writeCachedProject(i: CacheInput, project: Project): void {
  writeCached(i, "project", { project: { ...project, file: undefined, dir: undefined } });
}

/** The machines whose agent forwards (agent-forward.ts) commands run with exactly this input used, or undefined.
 *  Names only: cli/prewarm.ts builds their ssh argv again from the checked project, as the transport does. */
export function readCachedForwards(i: CacheInput): string[] | undefined {
  if (!ownPrivateFolder(i.dir)) return undefined;
  let stored: unknown;
  try {
    stored = JSON.parse(readFileSync(cachePath(i, "forwards"), "utf8"));
  } catch {
    return undefined;
  }
  if (!isRecord(stored) || stored.key !== cacheKey(i) || !Array.isArray(stored.machines) || !stored.machines.every((m) => typeof m === "string")) return undefined;
  return stored.machines;
}

export function writeCachedForwards(i: CacheInput, machines: string[]): void {
  writeCached(i, "forwards", { machines });
}

function writeCached(i: CacheInput, kind: "project" | "forwards", value: Record<string, unknown>): void {
  const path = cachePath(i, kind);
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  try {
    mkdirSync(i.dir, { recursive: true, mode: 0o700 });
    if (!ownPrivateFolder(i.dir)) return;
    // Whole or not at all: a status started during this write reads the old file or the new one.
    writeFileSync(tmp, JSON.stringify({ key: cacheKey(i), ...value }), { mode: 0o600 });
    renameSync(tmp, path);
  } catch {
    try {
      rmSync(tmp, { force: true });
    } catch {
      // no folder to hold it either
    }
  }
}

/** A folder of this user's that no other user can write into (so nobody else put a file there). */
function ownPrivateFolder(dir: string): boolean {
  try {
    const st = statSync(dir);
    return st.isDirectory() && (process.getuid === undefined || st.uid === process.getuid()) && (st.mode & 0o022) === 0;
  } catch {
    return false;
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Enough of a Project's shape that code using it finds what it expects (a file written by this code never fails it). */
function looksLikeProject(v: unknown): v is Project {
  if (!isRecord(v) || typeof v.name !== "string" || !isRecord(v.machines) || !isRecord(v.apps) || !isRecord(v.secrets) || !Array.isArray(v.secrets.recipients)) return false;
  const named = (m: Record<string, unknown>) => Object.entries(m).every(([k, x]) => isRecord(x) && x.name === k);
  return named(v.machines) && named(v.apps);
}
