// What an instance uses, from its cgroup's own files (cgroup v1 or v2), for the
// metrics sampler. Docker containers and process instances alike: a runtime
// says which directories are the instance's (cgroupDirs), this reads them.
// Parsers are pure; a file that is not there leaves its number out.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

export interface CgroupUsage {
  cpuSeconds?: number;
  memoryBytes?: number;
  memoryLimitBytes?: number;
  oomKills?: number;
}

const WANTED = new Set(["", "memory", "cpu", "cpuacct"]);

/** /proc/<pid>/cgroup → the directories under `root` of that process's groups (those that exist). */
export function cgroupDirsFromProc(text: string, root = "/sys/fs/cgroup"): string[] {
  const dirs: string[] = [];
  for (const line of text.split("\n")) {
    const m = /^\d+:([^:]*):(\/.*)$/.exec(line.trim());
    if (!m) continue;
    const [, controllers, path] = m;
    // v2: one line "0::/path". v1: "4:memory:/path", "3:cpu,cpuacct:/path" (mounted joined or one by one).
    const names = controllers ? [controllers, ...controllers.split(",")] : [""];
    for (const n of names) {
      // Only the groups whose files say what the instance uses: memory and CPU (and v2's single one).
      if (!WANTED.has(n) && !n.split(",").every((c) => WANTED.has(c))) continue;
      const d = join(root, n, path!);
      if (existsSync(d) && !dirs.includes(d)) dirs.push(d);
    }
  }
  return dirs;
}

const read = (f: string): string | undefined => {
  try {
    return readFileSync(f, "utf8");
  } catch {
    return undefined;
  }
};

const DIGITS = /^\d+$/;

/** A `key value` line of a stat file (found by search: no pattern built per key and call). */
export function statField(text: string | undefined, key: string): number | undefined {
  if (!text) return undefined;
  const first = text.startsWith(`${key} `);
  const nl = first ? -1 : text.indexOf(`\n${key} `);
  if (!first && nl < 0) return undefined;
  const at = nl + 2 + key.length;
  const end = text.indexOf("\n", at);
  const v = text.slice(at, end < 0 ? text.length : end);
  return DIGITS.test(v) ? Number(v) : undefined;
}

/** v1's "no limit" is the largest page-aligned 64-bit value; anything above 2^60 bytes means none. */
const limitOf = (text: string | undefined): number | undefined => {
  const t = text?.trim();
  if (!t || t === "max") return undefined;
  const n = Number(t);
  return Number.isFinite(n) && n < 2 ** 60 ? n : undefined;
};

/** Which of an instance's cgroup files say what it uses, found once: a group's files do not come and go while it
 *  lives (a container restarted gets its group again at the same path). Every sample then reads only these, with
 *  no failed open per missing file (v1 and v2 name them differently; most of the old reads failed). */
export interface CgroupFiles {
  /** v2 cpu.stat (usage_usec) or v1 cpuacct.usage (ns). */
  cpu?: { file: string; v2: boolean };
  /** memory.current / memory.usage_in_bytes, less the stat file's inactive file cache; the limit. */
  memory?: { usage: string; stat: string; inactive: string; limit: string };
  /** memory.events (v2) and memory.oom_control (v1) of every group: their oom_kill lines add up. */
  oom: string[];
}

export function cgroupFiles(dirs: string[]): CgroupFiles {
  const f: CgroupFiles = { oom: [] };
  for (const d of dirs) {
    // v2 (cpu.stat has usage_usec; a v1 cpu group's cpu.stat has only the quota's periods)
    if (statField(read(join(d, "cpu.stat")), "usage_usec") !== undefined) f.cpu = { file: join(d, "cpu.stat"), v2: true };
    if (existsSync(join(d, "memory.current"))) f.memory = { usage: join(d, "memory.current"), stat: join(d, "memory.stat"), inactive: "inactive_file", limit: join(d, "memory.max") };
    // v1
    if (existsSync(join(d, "cpuacct.usage")) && !f.cpu) f.cpu = { file: join(d, "cpuacct.usage"), v2: false };
    if (existsSync(join(d, "memory.usage_in_bytes"))) f.memory = { usage: join(d, "memory.usage_in_bytes"), stat: join(d, "memory.stat"), inactive: "total_inactive_file", limit: join(d, "memory.limit_in_bytes") };
  }
  for (const d of dirs) for (const name of ["memory.events", "memory.oom_control"]) if (existsSync(join(d, name))) f.oom.push(join(d, name));
  return f;
}

/** What the files say now; a file that cannot be read (the group went away) leaves its number out. */
export function readCgroup(f: CgroupFiles): CgroupUsage {
  const u: CgroupUsage = {};
  if (f.cpu) {
    const text = read(f.cpu.file);
    const n = f.cpu.v2 ? statField(text, "usage_usec") : text === undefined ? undefined : Number(text);
    if (n !== undefined && Number.isFinite(n)) u.cpuSeconds = n / (f.cpu.v2 ? 1e6 : 1e9);
  }
  const usage = f.memory && read(f.memory.usage);
  if (f.memory && usage !== undefined) {
    // Like `docker stats`: the inactive page cache can be reclaimed at once, so it is not counted as used.
    u.memoryBytes = Math.max(0, Number(usage) - (statField(read(f.memory.stat), f.memory.inactive) ?? 0));
    u.memoryLimitBytes = limitOf(read(f.memory.limit));
  }
  let oom: number | undefined;
  for (const file of f.oom) {
    const text = read(file);
    if (text !== undefined) oom = (oom ?? 0) + (statField(text, "oom_kill") ?? 0);
  }
  if (oom !== undefined) u.oomKills = oom;
  return u;
}

export const cgroupUsage = (dirs: string[]): CgroupUsage => readCgroup(cgroupFiles(dirs));

/** CPU seconds of processes from /proc/<pid>/stat (utime+stime and their waited-for children's), where no
 *  cgroup counts it (a v1 machine without the cpuacct hierarchy for the group). */
export function procCpuSeconds(pids: number[]): number | undefined {
  let ticks = 0;
  let seen = false;
  for (const pid of pids) {
    const s = read(`/proc/${pid}/stat`);
    if (!s) continue;
    const f = s.slice(s.lastIndexOf(")") + 2).split(" ", 15);
    // fields from state (3rd): utime 14, stime 15, cutime 16, cstime 17 → indexes 11..14 here
    ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    seen = true;
  }
  return seen ? ticks / 100 : undefined;
}

export function pidsOf(dirs: string[]): number[] {
  const pids = new Set<number>();
  for (const d of dirs) for (const l of (read(join(d, "cgroup.procs")) ?? "").split("\n")) if (l.trim()) pids.add(Number(l));
  return [...pids];
}
