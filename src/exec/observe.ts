// Reads what the planners need from the machines' agents, reading only: two
// rounds, every machine at once and every question of a round at once on its
// channel. First the lists (capacity, releases, history, images held), then the
// release specs those lists point at (the active ones, and the newest few a
// deploy may reuse, or a rollback's target). A rollback's first round brings
// the specs each machine foresees it needs, so its second is usually empty.
import type { InstanceList } from "../contracts/activate.ts";
import type { HistoryEntry, ReleaseSpec, RuntimeKind } from "../contracts/model.ts";
import type { Project } from "../config/model.ts";
import { UserError } from "../errors.ts";
import { CANDIDATE_RELEASES, candidateReleases, type Observed, type ObservedCapacity, type ObservedMachine } from "../plan/observed.ts";
import { servedFacts, type ServedFacts } from "../contracts/served.ts";
import { rollbackTarget } from "../plan/rollback.ts";
import { AgentRefused, type AgentClient } from "../transport/agent-client.ts";
import { settleAll } from "../lib/parallel.ts";

export interface ObserveOptions {
  apps: string[];
  capacity?: boolean;
  /** History (rollback without --to). */
  history?: boolean;
  /** Which stored specs to read: per app and machine, the release numbers wanted (from the first round). */
  specs?: (o: Observed, app: string, m: ObservedMachine) => (number | null)[];
  /** A rollback's (to: --to): the first round also reads each machine's active spec and its likely target's, so
   *  that the second round reads only what the machines did not foresee (usually nothing). */
  rollback?: { to?: number };
  /** A deploy's or a scale's (deploySpecs): the first round also reads each machine's active spec, and the first
   *  machine's newest releases' (the candidates to reuse), so that the second round reads only what they lacked. */
  deploy?: boolean;
  /** Asks each machine whether it holds these (only for plans that are printed: a deploy's ship asks anyway). */
  images?: { id: string; runtime: RuntimeKind }[];
  /** Asks each machine's firewall (only for plans that are printed: a deploy sets it anyway). */
  firewall?: boolean;
  /** Machines already known to be out (the deploy lock found them unreachable). */
  unreachable?: string[];
  /** An unreachable machine is left out instead of failing the observation. */
  skipUnreachable?: boolean;
}

/** Deploy and scale: the active spec everywhere, and each of the newest releases from the first machine listing it. */
export const deploySpecs: ObserveOptions["specs"] = (o, app, m) => [m.apps[app]?.active ?? null, ...(firstHolders(o, app).get(m.machine) ?? [])];

/** Per observation and app, once (not once per machine: that made a plan O(machines²)): each candidate release
 *  under the first machine that lists it. */
const holders = new WeakMap<Observed, Map<string, Map<string, number[]>>>();
function firstHolders(o: Observed, app: string): Map<string, number[]> {
  const byApp = holders.get(o) ?? new Map<string, Map<string, number[]>>();
  holders.set(o, byApp);
  let out = byApp.get(app);
  if (!out) {
    out = new Map();
    for (const n of candidateReleases(o, app)) {
      const first = o.machines.find((x) => x.apps[app]?.releases.includes(n));
      if (first) out.set(first.machine, [...(out.get(first.machine) ?? []), n]);
    }
    byApp.set(app, out);
  }
  return out;
}

/** Rollback: the active spec and the target's, everywhere (no target: the planner says why). */
export const rollbackSpecs =
  (to?: number): ObserveOptions["specs"] =>
  (o, app, m) => {
    // The target is the same for every machine: found once per observation and app.
    const byApp = targets.get(o) ?? new Map<string, number | null>();
    targets.set(o, byApp);
    if (!byApp.has(app)) {
      let target: number | null = null;
      try {
        target = rollbackTarget(o, app, to).to;
      } catch {}
      byApp.set(app, target);
    }
    return [m.apps[app]?.active ?? null, byApp.get(app)!];
  };
const targets = new WeakMap<Observed, Map<string, number | null>>();

type Report = { entries: HistoryEntry[]; damaged: { line: number }[] };
type ReleaseList = { releases: number[]; active: number | null; specs?: Record<string, ReleaseSpec | null>; list?: InstanceList };
type Served = ServedFacts & { damaged: { line: number }[] };

/** The app's releases that served on this machine: a few numbers, not its whole history (an agent that predates
 *  history.served sends its history, and the numbers are taken from it). */
async function servedOn(c: AgentClient, project: string, app: string): Promise<Served> {
  try {
    return await c.call<Served>("history.served", { project, app });
  } catch (e) {
    if (!(e instanceof AgentRefused && e.code === "ENOMETHOD")) throw e;
    const h = await c.call<Report>("history", { project, app, report: true });
    return { ...servedFacts(h.entries, app), damaged: h.damaged };
  }
}

async function firstRound(c: AgentClient, project: string, opts: ObserveOptions, first: boolean): Promise<ObservedMachine> {
  // The candidates go under the first machine listing them (deploySpecs): asked of the first machine only.
  const specs = opts.rollback ? { specs: "rollback" as const, to: opts.rollback.to } : opts.deploy ? { newest: first ? CANDIDATE_RELEASES : 0 } : {};
  const [capacity, lists, histories, images, firewall] = await Promise.all([
    opts.capacity ? c.call<ObservedCapacity>("capacity") : undefined,
    Promise.all(opts.apps.map((app) => c.call<ReleaseList>("release.list", { project, app, ...specs }))),
    opts.history ? Promise.all(opts.apps.map((app) => servedOn(c, project, app))) : undefined,
    opts.images ? Promise.all(opts.images.map((i) => c.call<boolean>("image.has", { image: i.id, runtime: i.runtime }))) : undefined,
    opts.firewall ? c.call("firewall.get").catch((e: unknown) => (e instanceof AgentRefused && e.code === "ENOMETHOD" ? null : Promise.reject(e))) : undefined,
  ]);
  return {
    machine: c.machine,
    ...(capacity ? { capacity } : {}),
    apps: Object.fromEntries(opts.apps.map((a, i) => { const { releases, active, list } = lists[i]!; return [a, { releases, active, ...(list ? { list } : {}) }]; })),
    // What the machine sent along (a rollback's first round; an older agent sends none).
    specs: Object.fromEntries(opts.apps.flatMap((a, i) => (lists[i]!.specs ? [[a, Object.fromEntries(Object.entries(lists[i]!.specs!).map(([n, spec]) => [Number(n), spec]))]] : []))),
    ...(histories ? { served: Object.fromEntries(opts.apps.map((a, i) => { const { damaged: _, ...facts } = histories[i]!; return [a, facts]; })), damaged: histories.flatMap((h) => h.damaged.map((d) => d.line)) } : {}),
    ...(images ? { images: opts.images!.filter((_, i) => images[i]).map((i) => i.id) } : {}),
    ...(firewall !== undefined ? { firewall } : {}),
  };
}

async function secondRound(c: AgentClient, project: string, m: ObservedMachine, o: Observed, opts: ObserveOptions): Promise<void> {
  await Promise.all(
    opts.apps.map(async (app) => {
      const had = m.specs[app] ?? {};
      const wanted = [...new Set(opts.specs!(o, app, m).filter((n): n is number => n !== null && !(n in had)))];
      const specs = await Promise.all(wanted.map((release) => c.call<ReleaseSpec | null>("release.get", { project, app, release })));
      m.specs[app] = { ...had, ...Object.fromEntries(wanted.map((n, i) => [n, specs[i]!])) };
    }),
  );
}

/** Machines that did not answer: left out with --skip-unreachable, else the observation fails as a deploy would. */
function reachable<T>(clients: AgentClient[], settled: ({ ok: true; value: T } | { ok: false; error: unknown })[], opts: ObserveOptions): { values: T[]; down: string[] } {
  const values: T[] = [];
  const down: string[] = [];
  settled.forEach((r, i) => {
    if (r.ok) return void values.push(r.value);
    if (!opts.skipUnreachable || !(r.error instanceof UserError) || r.error instanceof AgentRefused) throw r.error;
    down.push(clients[i]!.machine);
  });
  if (!values.length && clients.length) throw new UserError("no machine could be reached");
  return { values, down };
}

export async function observe(clients: AgentClient[], project: Project, opts: ObserveOptions): Promise<Observed> {
  const settled = await settleAll(clients, 20, (c) => firstRound(c, project.name, opts, c === clients[0]));
  const { values: machines, down } = reachable(clients, settled, opts);
  const o: Observed = { machines, unreachable: [...(opts.unreachable ?? []), ...down] };
  const byName = new Map(clients.map((c) => [c.machine, c]));
  // Machines with nothing left to read are not asked again (secondRound sends nothing for them).
  if (opts.specs) await Promise.all(machines.map((m) => secondRound(byName.get(m.machine)!, project.name, m, o, opts)));
  return o;
}
