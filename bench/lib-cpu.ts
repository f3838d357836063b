// Where this host's CPU goes while a command runs on the bed: every bed machine is a container on this host, so a
// fleet's deploy shares its cores with every machine's agent, HAProxy and apps. `cpuMeter` reads, over the command:
// the host's busy time (/proc/stat), each machine's whole CPU time (its container's cgroup, short-lived processes
// included), and by sampling /proc every 500 ms (SAMPLE_MS) the long-lived parts inside the machines: the agent,
// HAProxy and the app's instances (process runtime: what runs under an instance's run.sh; Docker runtime: the
// machine's nested containers, whose cgroups are outside the machine's). What no sample saw (a helper that lived
// less than that, a process's last moments before it exited) stays in "other in the machines". Linux only, cgroup
// v1 (cpuacct) or v2 (cpu.stat). Figures for a bench, not a test.
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { cpus } from "node:os";

const TICK = 100; // /proc/<pid>/stat counts in clock ticks of 10 ms (USER_HZ 100 on Linux)
// Every 100 ms, reading /proc for 400+ processes cost this bench 0.7–1.6 CPU-s during a deploy at 20 machines: on the
// cores the measured command was waiting for.
const SAMPLE_MS = 500;

type Part = "agent" | "haproxy" | "app" | "cli" | "ssh" | "docker" | "kernel";

/** A cgroup's CPU time so far, in ms, from its path as /proc/<pid>/cgroup gives it (v1: the cpuacct line). */
function cgroupCpuMs(path: string, v2: boolean): number {
  try {
    if (v2) return Number(/usage_usec (\d+)/.exec(readFileSync(`/sys/fs/cgroup${path}/cpu.stat`, "utf8"))?.[1] ?? 0) / 1000;
    return Number(readFileSync(`/sys/fs/cgroup/cpuacct${path}/cpuacct.usage`, "utf8")) / 1e6;
  } catch {
    return 0;
  }
}

function cgroupOf(pid: number | string): { path: string; v2: boolean } | undefined {
  try {
    const lines = readFileSync(`/proc/${pid}/cgroup`, "utf8").split("\n");
    const v1 = lines.find((l) => /^\d+:[^:]*\bcpuacct\b[^:]*:/.test(l));
    if (v1) return { path: v1.slice(v1.indexOf(":", v1.indexOf(":") + 1) + 1), v2: false };
    const v2 = lines.find((l) => l.startsWith("0::"));
    return v2 ? { path: v2.slice(3), v2: true } : undefined;
  } catch {
    return undefined;
  }
}

/** This host's CPU time so far (all cores), in ms, from /proc/stat: busy (user, nice, system), interrupts (irq,
 *  softirq: the kernel's, in no process's time), stolen (by the hypervisor, for other VMs: not this host's work),
 *  idle (iowait included) and the total of every field. */
export function hostTimes(): { busy: number; irq: number; steal: number; total: number; idle: number } {
  const f = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
  const ms = 1000 / TICK;
  const total = f.reduce((a, b) => a + b, 0) * ms;
  return { busy: (f[0]! + f[1]! + f[2]! + f[5]! + f[6]!) * ms, irq: (f[5]! + f[6]!) * ms, steal: (f[7] ?? 0) * ms, total, idle: (f[3]! + (f[4] ?? 0)) * ms };
}

/** This host's busy CPU time so far (all cores), in ms: user, nice, system, irq, softirq (not idle, iowait, steal). */
export const hostBusyMs = () => hostTimes().busy;

export interface CpuReport {
  wallMs: number;
  cores: number;
  /** CPU-seconds of each part; `host` is everything, the rest are shares of it. */
  s: { host: number; machines: number; agent: number; haproxy: number; app: number; otherInMachines: number; cli: number; ssh: number; docker: number; kernel: number; bench: number; restOfHost: number; stolen: number };
}

/** Starts measuring; `stop()` ends it. `containers`: the bed machines' container names. */
export function cpuMeter(containers: string[]): { stop(): Promise<CpuReport> } {
  const pids = execFileSync("docker", ["inspect", "-f", "{{.State.Pid}} {{.Name}}", ...containers], { encoding: "utf8" })
    .trim()
    .split("\n")
    .map((l) => l.split(" "));
  const machines = pids.map(([pid]) => cgroupOf(pid!)).filter((c): c is { path: string; v2: boolean } => c !== undefined);
  // A Docker-runtime machine's instances: the bed's dockerd in machine mN puts them under /nested-mN (testbed).
  const nested = pids.map(([, name]) => name!.replace(/^\/skiff-bed-/, "/nested-")).map((path) => ({ path, v2: machines[0]?.v2 ?? false }));
  const groups = [...machines, ...nested];
  const inMachine = new Set(machines.map((m) => m.path));
  const sumGroups = (gs: { path: string; v2: boolean }[]) => gs.reduce((a, g) => a + cgroupCpuMs(g.path, g.v2), 0);

  // Per process: its part (once known), first and last CPU time seen.
  const seen = new Map<string, { part: Part | undefined; first: number; last: number; comm: string }>();
  const classify = (pid: string, comm: string): Part | undefined => {
    let cmd: string[];
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    } catch {
      return undefined;
    }
    const cg = cgroupOf(pid);
    if (!cg || !inMachine.has(cg.path)) {
      if (cmd.length <= 1 && !cmd[0]) return "kernel"; // a kernel thread: no command line
      if (cmd.some((a) => /\/bin\/skiff\.js$|\/dist\/cli\.js$/.test(a))) return "cli";
      if (comm === "ssh") return "ssh";
      if (/^(dockerd|containerd|containerd-shim|docker-proxy|runc)/.test(comm)) return "docker";
      return undefined;
    }
    if (cmd.some((a) => a.endsWith("skiff-agent.cjs"))) return "agent";
    if (comm === "haproxy") return "haproxy";
    // An instance of the process runtime: its wrapper (…/instances/NAME/run.sh) or anything under one.
    for (let p = pid, i = 0; p !== "0" && p !== "1" && i < 8; i++) {
      try {
        if (readFileSync(`/proc/${p}/cmdline`, "utf8").includes("/instances/")) return "app";
        const st = readFileSync(`/proc/${p}/stat`, "utf8");
        p = st.slice(st.lastIndexOf(")") + 2).split(" ")[1]!;
      } catch {
        break;
      }
    }
    return undefined;
  };
  const sample = () => {
    for (const pid of readdirSync("/proc")) {
      if (pid.charCodeAt(0) > 57) continue;
      let st: string;
      try {
        st = readFileSync(`/proc/${pid}/stat`, "utf8");
      } catch {
        continue;
      }
      const comm = st.slice(st.indexOf("(") + 1, st.lastIndexOf(")"));
      const f = st.slice(st.lastIndexOf(")") + 2).split(" ");
      const t = (Number(f[11]) + Number(f[12])) * (1000 / TICK);
      const s = seen.get(pid);
      // A pid seen for the first time after the start counts from 0 (it started meanwhile); a changed comm is an exec.
      if (!s) seen.set(pid, { part: classify(pid, comm), first: started ? 0 : t, last: t, comm });
      else {
        s.last = t;
        if (s.comm !== comm) Object.assign(s, { comm, part: classify(pid, comm) ?? s.part });
      }
    }
  };
  let started = false;
  const t0 = performance.now();
  const self0 = process.cpuUsage();
  const host0 = hostTimes();
  const groups0 = sumGroups(groups);
  const machines0 = sumGroups(machines);
  sample();
  started = true;
  let on = true;
  const loop = (async () => {
    while (on) {
      await new Promise((r) => setTimeout(r, SAMPLE_MS));
      sample();
    }
  })();
  return {
    async stop() {
      on = false;
      await loop;
      sample();
      const wallMs = performance.now() - t0;
      const by: Record<Part, number> = { agent: 0, haproxy: 0, app: 0, cli: 0, ssh: 0, docker: 0, kernel: 0 };
      for (const s of seen.values()) if (s.part) by[s.part] += s.last - s.first;
      const host1 = hostTimes();
      const host = host1.busy - host0.busy;
      const self = process.cpuUsage(self0);
      const benchMs = (self.user + self.system) / 1000;
      const machinesMs = sumGroups(machines) - machines0;
      const nestedMs = sumGroups(groups) - groups0 - machinesMs;
      const app = by.app + nestedMs;
      const sec = (ms: number) => Math.max(0, ms) / 1000;
      return {
        wallMs,
        cores: cpus().length,
        s: {
          host: sec(host),
          machines: sec(machinesMs + nestedMs),
          agent: sec(by.agent),
          haproxy: sec(by.haproxy),
          app: sec(app),
          otherInMachines: sec(machinesMs - by.agent - by.haproxy - by.app),
          cli: sec(by.cli),
          ssh: sec(by.ssh),
          docker: sec(by.docker),
          kernel: sec(by.kernel + host1.irq - host0.irq),
          bench: sec(benchMs),
          restOfHost: sec(host - machinesMs - nestedMs - by.cli - by.ssh - by.docker - by.kernel - (host1.irq - host0.irq) - benchMs),
          stolen: sec(host1.steal - host0.steal),
        },
      };
    },
  };
}

/** One line: the host's CPU-seconds by part, and how long the host's cores alone need for them. */
export function cpuLine(r: CpuReport): string {
  const f = (x: number) => x.toFixed(2);
  const { s } = r;
  return `host CPU ${f(s.host)} CPU-s in ${(r.wallMs / 1000).toFixed(2)} s (${r.cores} cores: ≥ ${(s.host / r.cores).toFixed(2)} s of wall time for it): apps ${f(s.app)} · agents ${f(s.agent)} · HAProxy ${f(s.haproxy)} · other in the machines ${f(s.otherInMachines)} · CLI ${f(s.cli)} · its ssh ${f(s.ssh)} · this host's Docker ${f(s.docker)} · the kernel's threads and interrupts ${f(s.kernel)} · this bench (its sampling included) ${f(s.bench)} · the rest ${f(s.restOfHost)}${s.stolen >= 0.01 ? ` (and ${f(s.stolen)} CPU-s stolen by the hypervisor)` : ""}`;
}

/** Whether this host can meter: Linux /proc and a readable cgroup CPU counter. */
export const canMeter = () => existsSync("/proc/stat") && (existsSync("/sys/fs/cgroup/cpuacct") || existsSync("/sys/fs/cgroup/cgroup.controllers"));
