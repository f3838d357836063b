// Pure: how many instances of an app go on which machine. Eligible machines
// are the app's `machines` (all when absent) that carry every one of its
// `labels`. Each instance reserves its declared cpu and memory against the
// machine's capacity (what its agent reports, minus what other apps' active
// releases reserve there). `spread` evens the count out; `binpack` fills the
// fullest machine that still fits first. What does not fit is refused with
// what is short where, before anything changes. A placement that still fits
// is kept as it is, so a re-run converges.

import type { MachineCapacity } from "../config/placement.ts";
import type { AppSpec, Project } from "../config/model.ts";
import type { ReleaseSpec } from "../contracts/model.ts";
import { UserError } from "../errors.ts";
import type { Observed } from "./observed.ts";

export type { MachineCapacity };

export interface PlacementRequest {
  app: string;
  instances: number;
  machines?: string[];
  labels: string[];
  strategy: "spread" | "binpack";
  resources: { cpus?: number; memoryBytes?: number };
  /** The active placement, kept when it still fits and has the right total. */
  current?: Record<string, number>;
}

export type PlacementResult = { ok: true; placement: Record<string, number> } | { ok: false; reason: string };

const mib = (b: number) => `${Math.round(b / 1024 / 1024)} MiB`;
const cpu = (c: number) => `${Math.round(c * 100) / 100} CPU`;

export function place(req: PlacementRequest, machines: MachineCapacity[]): PlacementResult {
  const eligible = eligibleMachines(req, machines);
  if (!eligible.length) {
    const why = [req.machines ? `machines: [${req.machines.join(", ")}]` : "", req.labels.length ? `labels: [${req.labels.join(", ")}]` : ""].filter(Boolean).join(" and ");
    return { ok: false, reason: `no machine is eligible for ${req.app} (${why || "no machines"})` };
  }
  const needCpu = req.resources.cpus ?? 0;
  const needMem = req.resources.memoryBytes ?? 0;
  const free = new Map(eligible.map((m) => [m.name, { cpus: m.cpus - m.reserved.cpus, mem: m.memoryBytes - m.reserved.memoryBytes }]));
  const fits = (name: string, n: number) => {
    const f = free.get(name)!;
    return n * needCpu <= f.cpus + 1e-9 && n * needMem <= f.mem;
  };

  // Keep what runs when it is still valid.
  if (req.current) {
    const cur = Object.entries(req.current).filter(([, n]) => n > 0);
    const total = cur.reduce((s, [, n]) => s + n, 0);
    if (total === req.instances && cur.every(([name, n]) => free.has(name) && fits(name, n))) {
      return { ok: true, placement: Object.fromEntries(eligible.map((m) => [m.name, req.current![m.name] ?? 0])) };
    }
  }

  const count = new Map(eligible.map((m) => [m.name, 0]));
  for (let i = 0; i < req.instances; i++) {
    const candidates = eligible.filter((m) => fits(m.name, count.get(m.name)! + 1));
    if (!candidates.length) {
      const placed = i;
      const short = eligible
        .map((m) => {
          const f = free.get(m.name)!;
          const n = count.get(m.name)!;
          const lacks: string[] = [];
          if ((n + 1) * needMem > f.mem) lacks.push(`memory: ${mib(Math.max(0, f.mem - n * needMem))} free, ${mib(needMem)} needed`);
          if ((n + 1) * needCpu > f.cpus + 1e-9) lacks.push(`cpu: ${cpu(Math.max(0, f.cpus - n * needCpu))} free, ${cpu(needCpu)} needed`);
          return `${m.name} (${lacks.join("; ")})`;
        })
        .join(", ");
      return { ok: false, reason: `${req.app} needs ${req.instances} instance${req.instances === 1 ? "" : "s"} of ${[needMem ? mib(needMem) : "", needCpu ? cpu(needCpu) : ""].filter(Boolean).join(" and ") || "no declared resources"}; only ${placed} fit: ${short}` };
    }
    const headroom = (name: string) => {
      const f = free.get(name)!;
      const n = count.get(name)!;
      // Memory decides first when declared, then cpu.
      return needMem ? f.mem - n * needMem : f.cpus - n * needCpu;
    };
    const pick =
      req.strategy === "binpack"
        ? candidates.sort((a, b) => headroom(a.name) - headroom(b.name) || count.get(b.name)! - count.get(a.name)! || a.name.localeCompare(b.name))[0]!
        : candidates.sort((a, b) => count.get(a.name)! - count.get(b.name)! || headroom(b.name) - headroom(a.name) || a.name.localeCompare(b.name))[0]!;
    count.set(pick.name, count.get(pick.name)! + 1);
  }
  return { ok: true, placement: Object.fromEntries(count) };
}

/** A placement someone else computed (skiff.config.ts): eligible machines only, the right total, and it must fit. */
export function checkPlacement(req: PlacementRequest, machines: MachineCapacity[], given: unknown): PlacementResult {
  const eligible = eligibleMachines(req, machines);
  if (!given || typeof given !== "object" || Array.isArray(given)) return { ok: false, reason: "the placement function did not return an object of machine → count" };
  const out: Record<string, number> = Object.fromEntries(eligible.map((m) => [m.name, 0]));
  for (const [name, n] of Object.entries(given as Record<string, unknown>)) {
    if (!Number.isInteger(n) || (n as number) < 0) return { ok: false, reason: `the placement function gave ${name} ${JSON.stringify(n)} instances (a whole number ≥ 0 is needed)` };
    if (!(name in out)) {
      if ((n as number) === 0) continue;
      return { ok: false, reason: `the placement function put instances on ${name}, which is not eligible (eligible: ${eligible.map((m) => m.name).join(", ") || "none"})` };
    }
    out[name] = n as number;
  }
  const total = Object.values(out).reduce((a, b) => a + b, 0);
  if (total !== req.instances) return { ok: false, reason: `the placement function placed ${total} instances, not ${req.instances}` };
  const needCpu = req.resources.cpus ?? 0;
  const needMem = req.resources.memoryBytes ?? 0;
  const short = eligible
    .filter((m) => out[m.name]! * needMem > m.memoryBytes - m.reserved.memoryBytes || out[m.name]! * needCpu > m.cpus - m.reserved.cpus + 1e-9)
    .map((m) => `${m.name} (${out[m.name]} × ${[needMem ? mib(needMem) : "", needCpu ? cpu(needCpu) : ""].filter(Boolean).join(" and ")}; free: ${mib(m.memoryBytes - m.reserved.memoryBytes)}, ${cpu(m.cpus - m.reserved.cpus)})`);
  if (short.length) return { ok: false, reason: `the placement function's layout does not fit: ${short.join(", ")}` };
  return { ok: true, placement: out };
}

export function eligibleMachines(req: Pick<PlacementRequest, "machines" | "labels">, machines: MachineCapacity[]): MachineCapacity[] {
  const named = req.machines ? machines.filter((m) => req.machines!.includes(m.name)) : machines;
  return named.filter((m) => req.labels.every((l) => m.labels.includes(l))).sort((a, b) => a.name.localeCompare(b.name));
}

/** Each machine's capacity and what the other apps' active releases reserve there (from the agents' `capacity`). */
export function capacitiesFrom(project: Project, app: string, o: Observed): MachineCapacity[] {
  return o.machines.map((m) => {
    const cap = m.capacity;
    if (!cap) throw new Error(`capacity of ${m.machine} was not observed`);
    const reserved = { cpus: 0, memoryBytes: 0 };
    for (const a of cap.apps) {
      if ((a.project === project.name && a.app === app) || a.active === null) continue;
      reserved.cpus += (a.limits?.cpus ?? 0) * a.instances;
      reserved.memoryBytes += (a.limits?.memoryBytes ?? 0) * a.instances;
    }
    return { name: m.machine, labels: project.machines[m.machine]?.labels ?? [], cpus: cap.cpus, memoryBytes: cap.memoryBytes, reserved };
  });
}

/** Instances per machine for this app, or a refusal (UserError) that says what is short where. */
/** The machines as the next app of the same plan sees them: this app's instances reserved where they were placed
 *  (a plan that places several apps must not give two of them the same room). */
export function withReserved(project: Project, o: Observed, app: string, limits: { cpus?: number; memoryBytes?: number } | undefined, placement: Record<string, number>): Observed {
  return {
    ...o,
    machines: o.machines.map((m) => {
      if (!m.capacity) return m;
      const others = m.capacity.apps.filter((a) => !(a.project === project.name && a.app === app));
      // `active` only marks the entry as reserving (capacitiesFrom skips apps with nothing active).
      return { ...m, capacity: { ...m.capacity, apps: [...others, { project: project.name, app, active: 0, limits, instances: placement[m.machine] ?? 0 }] } };
    }),
  };
}

export function placeApp(project: Project, app: AppSpec, o: Observed, opts: { instances?: number; current?: ReleaseSpec | null } = {}): Record<string, number> {
  const caps = capacitiesFrom(project, app.name, o);
  const instances = opts.instances ?? app.instances ?? eligibleMachines({ machines: app.placement.machines, labels: app.placement.labels }, caps).length;
  const req = { app: app.name, instances, machines: app.placement.machines, labels: app.placement.labels, strategy: app.placement.strategy, resources: app.resources, current: opts.current?.placement };
  let r: PlacementResult;
  if (app.place) {
    // skiff.config.ts decides; its answer is held to the same rules (eligible machines, total, capacity).
    let given: unknown;
    try {
      given = app.place({ app: app.name, instances, machines: eligibleMachines(req, caps), resources: app.resources, current: req.current });
    } catch (e) {
      throw new UserError(`cannot place ${app.name}: its placement function threw: ${(e as Error).message}; nothing was changed`);
    }
    r = checkPlacement(req, caps, given);
  } else r = place(req, caps);
  if (!r.ok) throw new UserError(`cannot place ${app.name}: ${r.reason}; nothing was changed`, { hint: "lower instances or resources, add machines (or labels), or free capacity on them" });
  return r.placement;
}
