// The agent's block in the machine's hosts file (lib/hosts-block.ts says what it
// holds). Every other line, the file's mode and owner are kept; an unchanged file
// is not written at all.
import { chmodSync, chownSync, closeSync, fsyncSync, ftruncateSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
import { withHostsBlock } from "../lib/hosts-block.ts";

export interface HostsBlockWriter {
  /** Makes skiff's block hold exactly these lines; true when the file changed. */
  write(lines: string[]): boolean;
}

export class HostsFile implements HostsBlockWriter {
  constructor(
    readonly path: string,
    /** The rename; a test makes it refuse as a bind mount does. */
    private readonly rename: (from: string, to: string) => void = renameSync,
  ) {}

  write(lines: string[]): boolean {
    let old = "";
    let st: { mode: number; uid: number; gid: number } | undefined;
    try {
      old = readFileSync(this.path, "utf8");
      st = statSync(this.path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    }
    const text = withHostsBlock(old, lines);
    if (text === old) return false;
    const tmp = `${this.path}.skiff-${process.pid}`;
    try {
      const fd = openSync(tmp, "w", 0o644);
      try {
        writeFileSync(fd, text);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      if (st) {
        chmodSync(tmp, st.mode & 0o7777);
        chownSync(tmp, st.uid, st.gid);
      }
      // Readers (every name lookup on the machine) see the old file or the new one, never half of one.
      this.rename(tmp, this.path);
    } catch (e) {
      rmSync(tmp, { force: true });
      // Inside a container (Docker's own /etc/hosts, the test bed's machines) the file is a bind mount: a rename
      // onto it is refused (EBUSY), and writing a file elsewhere would not be the one lookups read. Then it is
      // rewritten in place: new bytes over the old from the start, then cut to length. The lines before skiff's
      // block (at the end) are the same bytes, so a lookup at that moment still finds them; only the block may
      // be seen half-written.
      if (!["EBUSY", "EXDEV"].includes((e as NodeJS.ErrnoException).code ?? "") || !st) throw e;
      this.overwrite(text);
    }
    return true;
  }

  private overwrite(text: string): void {
    const fd = openSync(this.path, "r+");
    try {
      const buf = Buffer.from(text);
      for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off, buf.length - off, off);
      ftruncateSync(fd, buf.length);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
}
