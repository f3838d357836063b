// Built artifacts kept on this computer, in <project>/.skiff/cache/artifacts/:
//
//   <sha256>.tar.gz   an artifact packed once (shipping streams this file to every machine that lacks it)
//   keys/<key>        the artifact a build made from those inputs (see inputs.ts)
//
// Bounded: past `maxBytes` the least recently used artifacts go, and the keys that
// named them. Ignored by git (a .gitignore of its own).
import { spawn } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tarPackArgs } from "../contracts/artifact.ts";

const HASH = /^[0-9a-f]{64}$/;
export const DEFAULT_CACHE_BYTES = 2 * 1024 ** 3;

export class ArtifactCache {
  constructor(
    readonly dir: string,
    readonly maxBytes = DEFAULT_CACHE_BYTES,
  ) {}

  static of(projectDir: string): ArtifactCache {
    return new ArtifactCache(join(projectDir, ".skiff", "cache", "artifacts"));
  }

  /** The packed artifact, when it is here. */
  tarball(hash: string): string | undefined {
    const file = join(this.dir, `${hash}.tar.gz`);
    try {
      return statSync(file).isFile() ? file : undefined;
    } catch {
      return undefined;
    }
  }

  /** The artifact these inputs made, when it is still here (and then it counts as just used). */
  lookup(key: string): string | undefined {
    let hash: string;
    try {
      hash = readFileSync(join(this.dir, "keys", key), "utf8").trim();
    } catch {
      return undefined;
    }
    const file = HASH.test(hash) ? this.tarball(hash) : undefined;
    if (!file) return undefined;
    const now = new Date();
    utimesSync(file, now, now);
    return hash;
  }

  remember(key: string, hash: string): void {
    this.init();
    const file = join(this.dir, "keys", key);
    writeFileSync(`${file}.tmp`, `${hash}\n`);
    renameSync(`${file}.tmp`, file);
  }

  /** Packs `dir` as artifact `hash` (once; a second call only marks it used), then keeps the cache within bounds. */
  async store(hash: string, dir: string): Promise<string> {
    const have = this.tarball(hash);
    if (have) {
      const now = new Date();
      utimesSync(have, now, now);
      return have;
    }
    this.init();
    const file = join(this.dir, `${hash}.tar.gz`);
    const tmp = `${file}.${process.pid}.tmp`;
    try {
      const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
        const p = spawn("tar", tarPackArgs(dir, tmp), { stdio: ["ignore", "ignore", "pipe"] });
        let stderr = "";
        p.stderr.on("data", (b) => (stderr += b));
        p.on("error", reject);
        p.on("close", (code) => resolve({ code, stderr }));
      });
      if (code !== 0) throw new Error(`tar exited with ${code} packing ${dir}: ${stderr.trim()}`);
      renameSync(tmp, file);
    } finally {
      rmSync(tmp, { force: true });
    }
    this.prune(hash);
    return file;
  }

  /** Drops an artifact (e.g. one a machine found damaged) and the keys that named it. */
  forget(hash: string): void {
    rmSync(join(this.dir, `${hash}.tar.gz`), { force: true });
    this.dropKeys(new Set([hash]));
  }

  /** Oldest-used first, artifacts go until the rest fit in maxBytes; `keep` (the one just stored) stays. */
  prune(keep?: string): void {
    const packed = this.packed().sort((a, b) => b.usedMs - a.usedMs);
    let total = 0;
    const gone = new Set<string>();
    for (const p of packed) {
      total += p.bytes;
      if (total > this.maxBytes && p.hash !== keep) {
        rmSync(join(this.dir, `${p.hash}.tar.gz`), { force: true });
        gone.add(p.hash);
        total -= p.bytes;
      }
    }
    if (gone.size) this.dropKeys(gone);
  }

  private packed(): { hash: string; bytes: number; usedMs: number }[] {
    let names: string[] = [];
    try {
      names = readdirSync(this.dir);
    } catch {}
    return names.flatMap((n) => {
      const hash = n.replace(/\.tar\.gz$/, "");
      if (!HASH.test(hash) || n === hash) return [];
      const st = statSync(join(this.dir, n));
      return [{ hash, bytes: st.size, usedMs: st.mtimeMs }];
    });
  }

  private dropKeys(hashes: Set<string>): void {
    const keys = join(this.dir, "keys");
    let names: string[] = [];
    try {
      names = readdirSync(keys);
    } catch {}
    for (const k of names) {
      try {
        if (hashes.has(readFileSync(join(keys, k), "utf8").trim())) rmSync(join(keys, k), { force: true });
      } catch {}
    }
  }

  private init(): void {
    mkdirSync(join(this.dir, "keys"), { recursive: true });
    writeFileSync(join(this.dir, "..", ".gitignore"), "*\n");
  }
}
