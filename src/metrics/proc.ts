// The machine's numbers, from /proc and statfs: the parsers are pure (unit-tested
// on captured text), readMachine() does the reading. No exec, no external tool.
import { readFileSync, statfsSync } from "node:fs";
import type { Series } from "./catalogue.ts";

/** /proc/stat counts in USER_HZ, 100 on every Linux architecture skiff runs on. */
const USER_HZ = 100;

/** The first (aggregate) `cpu` line of /proc/stat, in seconds per mode; steal, guest and irqs go to "other". */
export function parseCpu(stat: string): { cpus: number; seconds: Record<"user" | "system" | "idle" | "iowait" | "other", number> } {
  const lines = stat.split("\n");
  const total = lines.find((l) => l.startsWith("cpu "));
  if (!total) throw new Error("/proc/stat has no cpu line");
  // user nice system idle iowait irq softirq steal guest guest_nice (guest time is already in user)
  const f = total.trim().split(/\s+/).slice(1).map(Number);
  const at = (i: number) => (Number.isFinite(f[i]) ? f[i]! : 0);
  const s = (n: number) => n / USER_HZ;
  return {
    cpus: lines.filter((l) => /^cpu\d+ /.test(l)).length,
    seconds: { user: s(at(0) + at(1)), system: s(at(2)), idle: s(at(3)), iowait: s(at(4)), other: s(at(5) + at(6) + at(7)) },
  };
}

/** MemTotal and MemAvailable of /proc/meminfo, in bytes. */
export function parseMeminfo(text: string): { totalBytes: number; availableBytes: number } {
  const kb = (key: string) => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(text);
    if (!m) throw new Error(`/proc/meminfo has no ${key}`);
    return Number(m[1]) * 1024;
  };
  return { totalBytes: kb("MemTotal"), availableBytes: kb("MemAvailable") };
}

export function parseLoadavg(text: string): [number, number, number] {
  const f = text.trim().split(/\s+/).map(Number);
  if (f.length < 3 || f.slice(0, 3).some((n) => !Number.isFinite(n))) throw new Error(`/proc/loadavg: unexpected "${text.trim()}"`);
  return [f[0]!, f[1]!, f[2]!];
}

/** Per device, bytes received and sent (/proc/net/dev). Loopback and the per-container veth pairs are left out:
 *  the first is the machine talking to itself, the second counts every container's traffic twice. */
export function parseNetDev(text: string): { device: string; rxBytes: number; txBytes: number }[] {
  const out: { device: string; rxBytes: number; txBytes: number }[] = [];
  for (const line of text.split("\n").slice(2)) {
    const colon = line.indexOf(":");
    if (colon < 0) continue;
    const device = line.slice(0, colon).trim();
    if (device === "lo" || device.startsWith("veth")) continue;
    const f = line.slice(colon + 1).trim().split(/\s+/).map(Number);
    // receive: bytes packets errs drop fifo frame compressed multicast | transmit: bytes …
    if (f.length >= 9) out.push({ device, rxBytes: f[0]!, txBytes: f[8]! });
  }
  return out;
}

export interface DiskFacts {
  path: string;
  totalBytes: number;
  freeBytes: number;
  inodes: number;
  inodesFree: number;
}

export function diskFacts(path: string): DiskFacts | undefined {
  try {
    const s = statfsSync(path);
    return { path, totalBytes: s.blocks * s.bsize, freeBytes: s.bavail * s.bsize, inodes: s.files, inodesFree: s.ffree };
  } catch {
    return undefined;
  }
}

/** Readers, injected so tests can give captured text. */
export interface ProcSource {
  read(path: string): string;
  disk(path: string): DiskFacts | undefined;
}

export const realProc: ProcSource = { read: (p) => readFileSync(p, "utf8"), disk: diskFacts };

/** The machine's series. A file that cannot be read or parsed leaves its metrics out (the others still count). */
export function machineSeries(machine: string, diskPaths: string[], src: ProcSource = realProc): Series[] {
  const out: Series[] = [];
  const m = { machine };
  const attempt = (fn: () => void) => {
    try {
      fn();
    } catch {}
  };
  attempt(() => {
    const cpu = parseCpu(src.read("/proc/stat"));
    out.push({ name: "skiff_machine_cpus", labels: m, value: cpu.cpus });
    for (const [mode, v] of Object.entries(cpu.seconds)) out.push({ name: "skiff_machine_cpu_seconds_total", labels: { ...m, mode }, value: v });
  });
  attempt(() => {
    const [l1, l5, l15] = parseLoadavg(src.read("/proc/loadavg"));
    out.push({ name: "skiff_machine_load1", labels: m, value: l1 }, { name: "skiff_machine_load5", labels: m, value: l5 }, { name: "skiff_machine_load15", labels: m, value: l15 });
  });
  attempt(() => {
    const mem = parseMeminfo(src.read("/proc/meminfo"));
    out.push({ name: "skiff_machine_memory_total_bytes", labels: m, value: mem.totalBytes }, { name: "skiff_machine_memory_available_bytes", labels: m, value: mem.availableBytes });
  });
  attempt(() => {
    for (const d of parseNetDev(src.read("/proc/net/dev"))) {
      out.push({ name: "skiff_machine_network_receive_bytes_total", labels: { ...m, device: d.device }, value: d.rxBytes });
      out.push({ name: "skiff_machine_network_transmit_bytes_total", labels: { ...m, device: d.device }, value: d.txBytes });
    }
  });
  for (const path of diskPaths) {
    const d = src.disk(path);
    if (!d) continue;
    const l = { ...m, path };
    out.push(
      { name: "skiff_machine_disk_total_bytes", labels: l, value: d.totalBytes },
      { name: "skiff_machine_disk_free_bytes", labels: l, value: d.freeBytes },
      { name: "skiff_machine_disk_inodes", labels: l, value: d.inodes },
      { name: "skiff_machine_disk_inodes_free", labels: l, value: d.inodesFree },
    );
  }
  return out;
}
