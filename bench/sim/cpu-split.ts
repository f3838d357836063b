// Who used the CPU during a step: the CLI's code or the simulated machines' (both run in this process). The V8
// profiler samples the stack; each sample counts for the first frame, from the top, that is one side's own code
// (src/agent, src/proxy, src/runtime and bench/sim are the machines; the rest of src/ is the CLI), so the time
// of a builtin (JSON.stringify, a spawn) goes to whoever called it. src/contracts and src/lib serve both sides
// (the wire format, parameter checks): their time goes to the side that called them when the stack says so,
// else to "wire" (a line parsed in a stream's data event has no caller of either side on its stack).
import { Session } from "node:inspector/promises";

export interface CpuSplit {
  cliMs: number;
  machinesMs: number;
  /** src/contracts and src/lib with no caller of either side on the stack: mostly JSON lines parsed as they arrive. */
  wireMs: number;
  /** Samples with no skiff frame on the stack (the event loop, GC, module loading) and the profiler's own. */
  otherMs: number;
  /** The CLI's functions with the most time (their own, with the builtins they call), for O(n²) hunting. */
  topCli: { fn: string; ms: number }[];
  topMachines: { fn: string; ms: number }[];
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

const MACHINE = /\/(src\/(agent|proxy|runtime)|bench\/sim)\//;
const SHARED = /\/src\/(contracts|lib)\//;
const OWN = /\/(src|bench\/sim)\//;

export async function cpuSplit<T>(fn: () => Promise<T>): Promise<{ value: T; cpu: CpuSplit }> {
  const s = new Session();
  s.connect();
  await s.post("Profiler.enable");
  await s.post("Profiler.setSamplingInterval", { interval: 1000 });
  await s.post("Profiler.start");
  type Profile = { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] };
  const stop = async () => {
    const r = (await s.post("Profiler.stop")) as unknown as { profile: Profile };
    s.disconnect();
    return r.profile;
  };
  let value: T;
  try {
    value = await fn();
  } catch (e) {
    await stop();
    throw e;
  }
  const profile = await stop();
  const parent = new Map<number, number>();
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  // The sample's owner: the first frame of either side's own code, else the first shared one, else none.
  const owner = new Map<number, { own?: ProfileNode; shared?: ProfileNode }>();
  const ownerOf = (id: number): { own?: ProfileNode; shared?: ProfileNode } => {
    const known = owner.get(id);
    if (known) return known;
    const n = byId.get(id)!;
    const url = n.callFrame.url;
    let o: { own?: ProfileNode; shared?: ProfileNode };
    if (OWN.test(url) && !SHARED.test(url)) o = { own: n };
    else {
      const up = parent.has(id) ? ownerOf(parent.get(id)!) : {};
      o = { own: up.own, shared: SHARED.test(url) ? n : up.shared };
    }
    owner.set(id, o);
    return o;
  };
  const cpu: CpuSplit = { cliMs: 0, machinesMs: 0, wireMs: 0, otherMs: 0, topCli: [], topMachines: [] };
  const cliFns = new Map<string, number>();
  const machineFns = new Map<string, number>();
  const name = (o: ProfileNode) => `${o.callFrame.functionName || "(anonymous)"} (${o.callFrame.url.replace(/^.*\/(src|bench)\//, "$1/")})`;
  const add = (m: Map<string, number>, k: string, ms: number) => m.set(k, (m.get(k) ?? 0) + ms);
  profile.samples.forEach((id, i) => {
    const ms = (profile.timeDeltas[i] ?? 0) / 1000;
    const { own, shared } = ownerOf(id);
    // The profiler's own stop (in this file) is not the fleet's work.
    if (own?.callFrame.url.endsWith("/cpu-split.ts")) cpu.otherMs += ms;
    else if (own && MACHINE.test(own.callFrame.url)) {
      cpu.machinesMs += ms;
      add(machineFns, name(shared ?? own), ms);
    } else if (own) {
      cpu.cliMs += ms;
      add(cliFns, name(shared ?? own), ms);
    } else if (shared) cpu.wireMs += ms;
    else cpu.otherMs += ms;
  });
  const top = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).slice(0, 6).map(([fn, ms]) => ({ fn, ms }));
  cpu.topCli = top(cliFns);
  cpu.topMachines = top(machineFns);
  return { value: value!, cpu };
}
