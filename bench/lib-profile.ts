// What bench/footprint-profile and bench/rollback-profile share: a V8 CPU profile
// (--cpu-prof) of a bed machine's agent, summed over a window by function: self
// time and inclusive time.
import { writeFileSync } from "node:fs";
import { faults, type BedMachine } from "../testbed/bed.ts";
export interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Microseconds of samples in [from, to] (the profile's clock), idle left out, by function. */
export function sumProfile(prof: CpuProfile, from: number, to: number): { total: number; self: Map<string, number>; incl: Map<string, number> } {
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const label = (id: number) => {
    const f = byId.get(id)!.callFrame;
    return `${f.functionName || "(anonymous)"} ${f.url.split("/").pop()}:${f.lineNumber + 1}`;
  };
  const self = new Map<string, number>();
  const incl = new Map<string, number>();
  let t = prof.startTime;
  let total = 0;
  prof.samples.forEach((id, i) => {
    const dt = prof.timeDeltas[i + 1] ?? 0;
    t += prof.timeDeltas[i]!;
    if (t < from || t > to) return;
    const l = label(id);
    if (l.startsWith("(idle)")) return;
    total += dt;
    self.set(l, (self.get(l) ?? 0) + dt);
    const seen = new Set<string>();
    for (let n: number | undefined = id; n !== undefined; n = parent.get(n)) {
      const k = label(n);
      if (seen.has(k)) continue;
      seen.add(k);
      incl.set(k, (incl.get(k) ?? 0) + dt);
    }
  });
  return { total, self, incl };
}

export const profileMs = (us: number) => `${(us / 1000).toFixed(0).padStart(6)} ms`;

/** The `top` functions by self time, then by inclusive time. */
export function printTop(s: { self: Map<string, number>; incl: Map<string, number> }, top: number): void {
  console.log("  self time:");
  for (const [k, v] of [...s.self].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`    ${profileMs(v)}  ${k}`);
  console.log("  inclusive time:");
  for (const [k, v] of [...s.incl].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`    ${profileMs(v)}  ${k}`);
}

/** Restarts a bed machine's agent with V8's profiler on (the wrapper's serve flags gain --cpu-prof; the supervisor
 *  starts it again once the old one is killed) and waits until it answers. `started`: when it started, on this
 *  process's clock (performance.now()), give or take the 200 ms its pid is polled at. */
export async function profileAgent(m: BedMachine): Promise<{ pid: string; started: number }> {
  const pidNow = async () => (await faults.exec(m, "cat /run/skiff/agent.pid 2>/dev/null || true")).trim();
  const old = await pidNow();
  await faults.exec(m, `rm -rf /tmp/agent-prof; mkdir -p /tmp/agent-prof; cp /usr/local/bin/skiff-agent /tmp/skiff-agent.orig
sed -i 's|^NODE_FLAGS="|NODE_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/agent-prof |' /usr/local/bin/skiff-agent; kill ${old}`);
  let pid = "";
  for (let i = 0; i < 100 && (!pid || pid === old); i++) {
    await new Promise((r) => setTimeout(r, 200));
    pid = await pidNow();
  }
  const started = performance.now();
  await faults.exec(m, "i=0; until /usr/local/bin/skiff-agent call ping >/dev/null 2>&1 || [ $i -ge 50 ]; do sleep 0.2; i=$((i+1)); done");
  return { pid, started };
}

/** Back to the plain wrapper, then TERM: the profiled agent exits, writing its profile (returned, and kept in
 *  PROFILE_OUT when set), and the supervisor starts a plain one. */
export async function stopProfiled(m: BedMachine, pid: string): Promise<CpuProfile> {
  await faults.exec(m, `cp /tmp/skiff-agent.orig /usr/local/bin/skiff-agent; kill -TERM ${pid}; sleep 1.5`);
  const file = (await faults.exec(m, "ls /tmp/agent-prof/*.cpuprofile | head -1")).trim();
  const text = await faults.exec(m, `cat ${file}`);
  if (process.env.PROFILE_OUT) writeFileSync(process.env.PROFILE_OUT, text);
  return JSON.parse(text) as CpuProfile;
}
