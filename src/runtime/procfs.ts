// What /proc says about processes: how the process runtime tells its instances
// from processes that later got the same pid or process group id.
import { readdirSync, readFileSync } from "node:fs";

/** Start time of a live (not zombie) process, in clock ticks since boot; undefined when it is gone. */
export function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (fields[0] === "Z" || fields[0] === "X") return undefined;
    return fields[19];
  } catch {
    return undefined;
  }
}

/** pid, process group and state of every process, from /proc. */
export function processTable(): { pid: number; pgid: number; live: boolean }[] {
  const out: { pid: number; pgid: number; live: boolean }[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      out.push({ pid: Number(d), pgid: Number(f[2]), live: f[0] !== "Z" && f[0] !== "X" });
    } catch {}
  }
  return out;
}

/** Whether the process started with SKIFF_INSTANCE=<name> (its initial environment, which its children inherit). */
export function carriesName(pid: number, name: string): boolean {
  try {
    return `\0${readFileSync(`/proc/${pid}/environ`, "latin1")}`.includes(`\0SKIFF_INSTANCE=${name}\0`);
  } catch {
    return false;
  }
}
