// What /proc says about processes: how the process runtime tells its instances
// from processes that later got the same pid or process group id.
import { readdirSync, readFileSync } from "node:fs";

export interface ProcStat {
  pid: number;
  ppid: number;
  pgid: number;
  /** Neither a zombie nor dead. */
  live: boolean;
  /** Clock ticks since boot. */
  start: string;
}

/** /proc/<pid>/stat, the one parser: the command name (field 2) may hold spaces and ")", so fields count from the last ")". */
export function procStat(pid: number | string): ProcStat | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { pid: Number(pid), ppid: Number(f[1]), pgid: Number(f[2]), live: f[0] !== "Z" && f[0] !== "X", start: f[19]! };
  } catch {
    return undefined;
  }
}

/** Start time of a live (not zombie) process, in clock ticks since boot; undefined when it is gone. */
export function startTime(pid: number): string | undefined {
  const s = procStat(pid);
  return s?.live ? s.start : undefined;
}

/** Every process, from /proc. */
export function processTable(): ProcStat[] {
  return readdirSync("/proc").filter((d) => /^\d+$/.test(d)).flatMap((d) => procStat(d) ?? []);
}

let boot: string | undefined;

/** This boot's id: a start time counts from boot, so a pid and start time name one process only within one boot.
 *  Read once: it cannot change while this process runs, and every instance's status asks for it. */
export function bootId(): string {
  if (boot === undefined) {
    try {
      boot = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
    } catch {
      boot = "?";
    }
  }
  return boot;
}

/** "<pid> <start time> <boot id>": what names a process across pid reuse and reboots. */
export function processIdentity(pid: number): string {
  return `${pid} ${startTime(pid) ?? "?"} ${bootId()}`;
}

/** The pid an identity names while that process lives (same start time, same boot); undefined otherwise. */
export function liveProcess(identity: string): number | undefined {
  const [pid, start, boot] = identity.trim().split(" ");
  // An identity without a boot id was written by an older agent: the start time alone decides.
  if (boot !== undefined && boot !== bootId()) return undefined;
  return start !== undefined && startTime(Number(pid)) === start ? Number(pid) : undefined;
}

/** Whether the process started with SKIFF_INSTANCE=<name> (its initial environment, which its children inherit). */
export function carriesName(pid: number, name: string): boolean {
  try {
    return `\0${readFileSync(`/proc/${pid}/environ`, "latin1")}`.includes(`\0SKIFF_INSTANCE=${name}\0`);
  } catch {
    return false;
  }
}
