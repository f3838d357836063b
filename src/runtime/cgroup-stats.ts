// What an instance uses, from its cgroup's own files (cgroup v1 or v2), for the
// metrics sampler. Docker containers and process instances alike: a runtime
// says which directories are the instance's (cgroupDirs), this reads them.
// Parsers are pure; a file that is not there leaves its number out.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { oomKills } from "./cgroup.ts";

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

/** A `key value` line of a stat file. */
export function statField(text: string | undefined, key: string): number | undefined {
  const m = text && new RegExp(`^${key} (\\d+)$`, "m").exec(text);
  return m ? Number(m[1]) : undefined;
}

/** v1's "no limit" is the largest page-aligned 64-bit value; anything above 2^60 bytes means none. */
const limitOf = (text: string | undefined): number | undefined => {
  const t = text?.trim();
  if (!t || t === "max") return undefined;
  const n = Number(t);
  return Number.isFinite(n) && n < 2 ** 60 ? n : undefined;
};

export function cgroupUsage(dirs: string[]): CgroupUsage {
  const u: CgroupUsage = {};
  for (const d of dirs) {
    // v2
    const cpuStat = read(join(d, "cpu.stat"));
    const usec = statField(cpuStat, "usage_usec");
    if (usec !== undefined) u.cpuSeconds = usec / 1e6;
    const current = read(join(d, "memory.current"));
    if (current !== undefined) {
      // Like `docker stats`: the inactive page cache can be reclaimed at once, so it is not counted as used.
      u.memoryBytes = Math.max(0, Number(current) - (statField(read(join(d, "memory.stat")), "inactive_file") ?? 0));
      u.memoryLimitBytes = limitOf(read(join(d, "memory.max")));
    }
    // v1
    const acct = read(join(d, "cpuacct.usage"));
    if (acct !== undefined && u.cpuSeconds === undefined) u.cpuSeconds = Number(acct) / 1e9;
    const usage = read(join(d, "memory.usage_in_bytes"));
    if (usage !== undefined) {
      u.memoryBytes = Math.max(0, Number(usage) - (statField(read(join(d, "memory.stat")), "total_inactive_file") ?? 0));
      u.memoryLimitBytes = limitOf(read(join(d, "memory.limit_in_bytes")));
    }
  }
  if (dirs.some((d) => existsSync(join(d, "memory.events")) || existsSync(join(d, "memory.oom_control")))) u.oomKills = oomKills(dirs);
  return u;
}

/** CPU seconds of processes from /proc/<pid>/stat (utime+stime and their waited-for children's), where no
 *  cgroup counts it (a v1 machine without the cpuacct hierarchy for the group). */
export function procCpuSeconds(pids: number[]): number | undefined {
  let ticks = 0;
  let seen = false;
  for (const pid of pids) {
    const s = read(`/proc/${pid}/stat`);
    if (!s) continue;
    const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
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
