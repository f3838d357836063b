// An append-only file (history.jsonl) read from where the last look ended: a
// look costs one stat when nothing was added, and years of records are read in
// pieces, never held whole.
import { closeSync, openSync, readSync, statSync } from "node:fs";
import { StringDecoder } from "node:string_decoder";

export class LineTail {
  private offset = 0;
  private ino?: number;
  /** The last line while it has no newline yet: a record being written, or a torn one. */
  rest = "";
  /** A character cut between two reads is joined, not mangled. */
  private decoder = new StringDecoder("utf8");

  constructor(private readonly file: string) {}

  /** Calls `line` for each whole line added since the last call; `reset` first when the file was replaced (shorter,
   *  or another inode): everything is read again. A missing file is no lines. */
  catchUp(line: (text: string) => void, reset: () => void = () => {}): void {
    let size: number;
    let ino: number;
    try {
      ({ size, ino } = statSync(this.file));
    } catch {
      return;
    }
    // Shorter than read, or another file (a restored state directory): read again from the start.
    if (size < this.offset || (this.ino !== undefined && ino !== this.ino)) {
      Object.assign(this, { offset: 0, rest: "", decoder: new StringDecoder("utf8") });
      reset();
    }
    this.ino = ino;
    if (size === this.offset) return;
    const fd = openSync(this.file, "r");
    try {
      const buf = Buffer.alloc(64 << 10);
      while (this.offset < size) {
        const n = readSync(fd, buf, 0, Math.min(buf.length, size - this.offset), this.offset);
        if (n <= 0) break;
        this.offset += n;
        const lines = (this.rest + this.decoder.write(buf.subarray(0, n))).split("\n");
        this.rest = lines.pop() ?? "";
        for (const l of lines) line(l);
      }
    } finally {
      closeSync(fd);
    }
  }
}
