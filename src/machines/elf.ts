// What a Linux executable needs from the machine that runs it, read from its
// ELF headers: the CPU, the dynamic loader (glibc or musl), and the newest
// symbol version it needs from each shared library (GLIBC_2.28, GLIBCXX_3.4.25).
// Setup ships the CLI's own Node to the machines and checks these first, so a
// binary that cannot start there is refused before it is copied.

export interface ElfNeeds {
  /** As `uname -m` says it: x86_64, aarch64… */
  arch: string;
  /** The dynamic loader named in the file (PT_INTERP); none for a static binary. */
  interpreter?: string;
  /** Library file → newest version it needs, per version family ("GLIBC" → "2.28"). */
  versions: Record<string, Record<string, string>>;
}

const MACHINES: Record<number, string> = { 0x3e: "x86_64", 0xb7: "aarch64", 0x28: "arm", 0x03: "i686", 0xf3: "riscv64", 0x15: "ppc64le" };
const PT_INTERP = 3;
const SHT_GNU_VERNEED = 0x6ffffffe;

/** Compares dotted versions numerically ("2.28" < "2.36"; "3.4.9" < "3.4.25"). */
export function compareVersions(a: string, b: string): number {
  const x = a.split(".").map(Number);
  const y = b.split(".").map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d) return d < 0 ? -1 : 1;
  }
  return 0;
}

/** Reads a 64-bit little-endian ELF file (every Linux x86_64 and arm64 build of Node); throws with a reason otherwise. */
export function elfNeeds(buf: Buffer): ElfNeeds {
  if (buf.length < 64 || buf.readUInt32BE(0) !== 0x7f454c46) throw new Error("not an ELF executable (not built for Linux)");
  if (buf[4] !== 2 || buf[5] !== 1) throw new Error("not a 64-bit little-endian ELF executable");
  const machine = buf.readUInt16LE(0x12);
  const arch = MACHINES[machine] ?? `elf-machine-${machine}`;

  let interpreter: string | undefined;
  const phoff = Number(buf.readBigUInt64LE(0x20));
  const phentsize = buf.readUInt16LE(0x36);
  for (let i = 0; i < buf.readUInt16LE(0x38); i++) {
    const ph = phoff + i * phentsize;
    if (buf.readUInt32LE(ph) !== PT_INTERP) continue;
    const off = Number(buf.readBigUInt64LE(ph + 8));
    interpreter = buf.toString("latin1", off, off + Number(buf.readBigUInt64LE(ph + 32))).replace(/\0.*$/s, "");
  }

  const versions: Record<string, Record<string, string>> = {};
  const shoff = Number(buf.readBigUInt64LE(0x28));
  const shentsize = buf.readUInt16LE(0x3a);
  const section = (i: number) => {
    const sh = shoff + i * shentsize;
    return { type: buf.readUInt32LE(sh + 4), offset: Number(buf.readBigUInt64LE(sh + 24)), link: buf.readUInt32LE(sh + 40), info: buf.readUInt32LE(sh + 44) };
  };
  for (let i = 0; i < buf.readUInt16LE(0x3c); i++) {
    const s = section(i);
    if (s.type !== SHT_GNU_VERNEED) continue;
    const strtab = section(s.link).offset;
    const str = (off: number) => buf.toString("latin1", strtab + off, buf.indexOf(0, strtab + off));
    let vn = s.offset;
    for (let n = 0; n < s.info; n++) {
      const file = str(buf.readUInt32LE(vn + 4));
      let aux = vn + buf.readUInt32LE(vn + 8);
      for (let k = 0; k < buf.readUInt16LE(vn + 2); k++) {
        const m = /^([A-Z_]+?)_(\d+(?:\.\d+)*)$/.exec(str(buf.readUInt32LE(aux + 8)));
        if (m) {
          const have = (versions[file] ??= {});
          if (!have[m[1]!] || compareVersions(m[2]!, have[m[1]!]!) > 0) have[m[1]!] = m[2]!;
        }
        aux += buf.readUInt32LE(aux + 12);
      }
      vn += buf.readUInt32LE(vn + 12);
    }
  }
  return { arch, interpreter, versions };
}

/** The newest version of `family` (GLIBC, GLIBCXX) the file needs from any library. */
export function newestNeeded(e: ElfNeeds, family: string): string | undefined {
  let best: string | undefined;
  for (const v of Object.values(e.versions)) if (v[family] && (!best || compareVersions(v[family]!, best) > 0)) best = v[family];
  return best;
}
