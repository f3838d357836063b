// cgroups for process instances: one group per instance, under a `skiff` group,
// on cgroup v2 (unified) or v1 (memory and cpu hierarchies). Where the kernel or
// the machine does not allow it, the instance runs without limits and says why.
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import type { Limits } from "../contracts/model.ts";

export type { Limits };

export interface InstanceCgroup {
  /** cgroup.procs files the instance's first process joins. */
  procs: string[];
  /** Directories to count OOM kills in and remove afterwards. */
  dirs: string[];
  /** What is enforced; `note` says why something is not. */
  memory: boolean;
  cpu: boolean;
  note?: string;
}

const PERIOD_US = 100_000;

function write(file: string, value: string): void {
  writeFileSync(file, value);
}

function enableControllers(dir: string, wanted: string[]): string[] {
  const available = readFileSync(join(dir, "cgroup.controllers"), "utf8").trim().split(/\s+/);
  const ok = wanted.filter((c) => available.includes(c));
  const current = readFileSync(join(dir, "cgroup.subtree_control"), "utf8").trim().split(/\s+/);
  for (const c of ok) if (!current.includes(c)) write(join(dir, "cgroup.subtree_control"), `+${c}`);
  return ok;
}

/** Creates the instance's cgroup(s) and sets its limits (best effort, reported). */
export function createCgroup(name: string, limits: Limits, root = process.env.SKIFF_CGROUP_ROOT || "/sys/fs/cgroup"): InstanceCgroup {
  const wantMemory = limits.memoryBytes !== undefined;
  const wantCpu = limits.cpus !== undefined;
  const none = (note: string): InstanceCgroup => ({ procs: [], dirs: [], memory: false, cpu: false, note: wantMemory || wantCpu ? note : undefined });
  try {
    if (existsSync(join(root, "cgroup.controllers"))) {
      // v2: controllers must be enabled in every parent's subtree_control.
      const parent = join(root, "skiff");
      mkdirSync(parent, { recursive: true });
      const atRoot = enableControllers(root, ["memory", "cpu"]);
      const here = enableControllers(parent, atRoot);
      const dir = join(parent, name);
      mkdirSync(dir, { recursive: true });
      const memory = wantMemory && here.includes("memory");
      const cpu = wantCpu && here.includes("cpu");
      if (memory) {
        write(join(dir, "memory.max"), String(limits.memoryBytes));
        if (existsSync(join(dir, "memory.swap.max"))) write(join(dir, "memory.swap.max"), "0");
      }
      if (cpu) write(join(dir, "cpu.max"), `${Math.max(1000, Math.round(limits.cpus! * PERIOD_US))} ${PERIOD_US}`);
      const missing = [wantMemory && !memory && "memory", wantCpu && !cpu && "cpu"].filter(Boolean);
      return { procs: [join(dir, "cgroup.procs")], dirs: [dir], memory, cpu, note: missing.length ? `${missing.join(" and ")} limit not enforced: the ${missing.join("/")} controller is not available to skiff (cgroup v2)` : undefined };
    }
    const memRoot = join(root, "memory");
    const cpuRoot = join(root, "cpu");
    if (!existsSync(join(memRoot, "cgroup.procs")) && !existsSync(join(cpuRoot, "cgroup.procs"))) return none("limits not enforced: no cgroup filesystem at " + root);
    const out: InstanceCgroup = { procs: [], dirs: [], memory: false, cpu: false };
    const notes: string[] = [];
    if (existsSync(join(memRoot, "cgroup.procs"))) {
      const dir = join(memRoot, "skiff", name);
      mkdirSync(dir, { recursive: true });
      out.procs.push(join(dir, "cgroup.procs"));
      out.dirs.push(dir);
      if (wantMemory) {
        write(join(dir, "memory.limit_in_bytes"), String(limits.memoryBytes));
        // With swap accounting, memory+swap gets the same limit: the instance is killed, not swapped out.
        try {
          write(join(dir, "memory.memsw.limit_in_bytes"), String(limits.memoryBytes));
        } catch {}
        out.memory = true;
      }
    } else if (wantMemory) notes.push("memory limit not enforced: no memory cgroup (v1)");
    if (wantCpu) {
      if (existsSync(join(cpuRoot, "cpu.cfs_quota_us"))) {
        const dir = join(cpuRoot, "skiff", name);
        mkdirSync(dir, { recursive: true });
        out.procs.push(join(dir, "cgroup.procs"));
        out.dirs.push(dir);
        write(join(dir, "cpu.cfs_period_us"), String(PERIOD_US));
        write(join(dir, "cpu.cfs_quota_us"), String(Math.max(1000, Math.round(limits.cpus! * PERIOD_US))));
        out.cpu = true;
      } else notes.push("cpu limit not enforced: no cpu cgroup with CFS quota (v1)");
    }
    if (notes.length) out.note = notes.join("; ");
    return out;
  } catch (e) {
    return none(`limits not enforced: ${(e as Error).message}`);
  }
}

/** OOM kills recorded in the instance's cgroups so far. */
export function oomKills(dirs: string[]): number {
  let n = 0;
  for (const d of dirs) {
    for (const f of ["memory.events", "memory.oom_control"]) {
      try {
        const m = /^oom_kill (\d+)$/m.exec(readFileSync(join(d, f), "utf8"));
        if (m) n += Number(m[1]);
      } catch {}
    }
  }
  return n;
}

/** Pids still in the instance's cgroups (processes that left its process group too). */
export function pidsIn(dirs: string[]): number[] {
  const pids = new Set<number>();
  for (const d of dirs) {
    try {
      for (const l of readFileSync(join(d, "cgroup.procs"), "utf8").split("\n")) if (l.trim()) pids.add(Number(l));
    } catch {}
  }
  return [...pids];
}

export function removeCgroup(dirs: string[]): void {
  for (const d of dirs) {
    try {
      rmdirSync(d);
    } catch {}
  }
}
