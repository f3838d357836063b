// One way to replace a file on a machine so that a crash, a full disk or a file size limit leaves the old
// content or the new, never a torn file: temp file, every byte written, fsync, rename, fsync of the directory.
// The agent's store and the proxy's state both write through here.
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

/** A directory fsync that these codes refuse says the filesystem cannot do it (the rename is still atomic);
 *  any other failure (EIO) means the rename may not be on disk, and is thrown. */
const REFUSED = new Set(["EINVAL", "ENOTSUP", "EOPNOTSUPP", "EISDIR", "EPERM", "EACCES", "EBADF"]);

export function fsyncDir(dir: string, fsync: (fd: number) => void = fsyncSync): void {
  let fd: number;
  try {
    fd = openSync(dir, "r");
  } catch (e) {
    if (REFUSED.has((e as NodeJS.ErrnoException).code ?? "")) return;
    throw e;
  }
  try {
    fsync(fd);
  } catch (e) {
    if (!REFUSED.has((e as NodeJS.ErrnoException).code ?? "")) throw e;
  } finally {
    closeSync(fd);
  }
}

export interface AtomicWriteOptions {
  mode?: number;
  /** Runs once the new content is safely in the temp file, just before it replaces `path` (e.g. keep a copy of the old). */
  beforeRename?: () => void;
  /** The directory fsync; injectable for a test of a filesystem that refuses it. */
  syncDir?: (dir: string) => void;
  /** false: no fsync at all, for a file whose loss in a power cut costs nothing (rebuilt from another, or stale
   *  anyway): still old-or-new after a crash of the process, never torn. Default true. */
  durable?: boolean;
}

/** Replaces `path` with `data`. A failed write throws, leaves `path` as it was and removes the temp file. */
export function writeAtomic(path: string, data: string | Uint8Array, opts: AtomicWriteOptions = {}): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, "w", opts.mode ?? 0o600);
  try {
    try {
      // writeFileSync on a descriptor loops over short writes, and throws when the kernel stops taking bytes
      // (ENOSPC, EFBIG); a single writeSync would return a short count that nobody checks.
      writeFileSync(fd, data);
      if (opts.durable !== false) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    opts.beforeRename?.();
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  if (opts.durable !== false) (opts.syncDir ?? fsyncDir)(dirname(path));
}
