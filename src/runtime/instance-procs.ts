// Which processes are a process instance's, and signalling them. The app may
// outlive its wrapper, and a pid alone proves nothing once its process is gone:
// the kernel hands the number on.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pidsIn } from "./cgroup.ts";
import { carriesName, liveProcess, processTable } from "./procfs.ts";

export interface InstanceRef {
  name: string;
  /** The instance's directory, with its pid file ("<pid> <start time> <boot id>" of the wrapper). */
  dir: string;
  cgroupDirs: string[];
}

/** The wrapper's pid while it runs (start time and boot id tell it from a later process that got the same pid). */
export function wrapperPid(i: InstanceRef): number | undefined {
  try {
    return liveProcess(readFileSync(join(i.dir, "pid"), "utf8"));
  } catch {
    return undefined;
  }
}

/**
 * The instance's live processes, and whether its process group (the wrapper's pid) is still its own. A process
 * belongs to the instance when it is the wrapper (pid, start time, boot), is in the instance's cgroup, or is in
 * the wrapper's group and started with the instance's name in its environment.
 */
export function instanceProcesses(i: InstanceRef): { group?: number; pids: number[]; outside: number[] } {
  const wrapper = wrapperPid(i);
  let pgid: number | undefined;
  try {
    pgid = Number(readFileSync(join(i.dir, "pid"), "utf8").split(" ")[0]) || undefined;
  } catch {}
  const cgroup = new Set(pidsIn(i.cgroupDirs));
  const inGroup: number[] = [];
  const outside: number[] = [];
  for (const p of processTable()) {
    if (!p.live) continue;
    const ours = cgroup.has(p.pid) || p.pid === wrapper;
    if (pgid && p.pgid === pgid && (ours || carriesName(p.pid, i.name))) inGroup.push(p.pid);
    else if (ours) outside.push(p.pid);
  }
  const group = wrapper !== undefined || inGroup.length ? pgid : undefined;
  return { group, pids: [...inGroup, ...outside], outside };
}

export function instanceRunning(i: InstanceRef): boolean {
  return wrapperPid(i) !== undefined || instanceProcesses(i).pids.length > 0; // the first is cheap and the usual case
}

/** To the whole group while it is the instance's (children forked meanwhile included), and to each process that left it: once each. */
export function signalInstance(i: InstanceRef, sig: NodeJS.Signals): void {
  const { group, outside } = instanceProcesses(i);
  for (const target of [...(group ? [-group] : []), ...outside]) {
    try {
      process.kill(target, sig);
    } catch {}
  }
}
