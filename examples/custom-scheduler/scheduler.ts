// A custom scheduler on skiff's API alone: it reads each machine's live load
// and places an app's instances from it, where skiff's own strategies (spread,
// pack) look only at declared resources.
//
// How it hooks in: skiff asks an app's `place` function where instances go
// whenever it places them (deploy, scale). `place` is synchronous and gets the
// eligible machines with their capacity; it cannot ask the machines itself.
// So the scheduler asks first, through the API (`skiff.machines.load`: every
// app's instances on each machine; `skiff.machines.check`: free memory), keeps
// the answer, and hands skiff a config object whose `place` reads it. Then it
// calls `skiff.scale` (or `skiff.deploy`): skiff checks the answer like any
// placement (eligible machines only, the right total, within capacity), rolls
// it out, and records it as a release. The same function could sit in
// skiff.config.ts; fed by the API, it sees the live numbers.
//
// The rule here: each instance goes, one at a time, to the machine running
// the fewest instances (of any app) so far, counting the ones just placed;
// among equals, the one with the most free memory, then by name.
//
//   npx tsx examples/custom-scheduler/scheduler.ts --config skiff.config.ts --app web --instances 4
import { Skiff, type MachineLoad, type OpenOptions, type PlacementContext, type SkiffConfig } from "skiff";

export interface Load {
  machine: string;
  /** Instances of every app on the machine now (this app's own excluded: they are being placed). */
  instances: number;
  memAvailKb: number;
}

/** Instances per machine, from the load: pure, so it can be tested and reasoned about alone. */
export function placeByLoad(ctx: PlacementContext, load: Load[]): Record<string, number> {
  const count = new Map(ctx.machines.map((m) => [m.name, load.find((l) => l.machine === m.name)?.instances ?? 0]));
  const mem = (name: string) => load.find((l) => l.machine === name)?.memAvailKb ?? 0;
  const out: Record<string, number> = Object.fromEntries(ctx.machines.map((m) => [m.name, 0]));
  for (let i = 0; i < ctx.instances; i++) {
    const [best] = [...count.keys()].sort((a, b) => count.get(a)! - count.get(b)! || mem(b) - mem(a) || a.localeCompare(b));
    if (!best) break;
    out[best]! += 1;
    count.set(best, count.get(best)! + 1);
  }
  return out;
}

/** Each machine's live load, through the API: instances from the agents, free memory from the machines. */
export async function readLoad(skiff: Skiff, app: string): Promise<Load[]> {
  const [loads, checks] = await Promise.all([skiff.machines.load(app), skiff.machines.check()]);
  const status = await skiff.status({ app });
  // `load` counts every app's instances, this one's too; this app's are placed anew, so they do not count.
  const own = (machine: string) => status.flatMap((m) => (m.machine === machine && "apps" in m ? m.apps : [])).reduce((n, a) => n + a.instances.length, 0);
  return loads.map((l: MachineLoad) => ({
    machine: l.machine,
    instances: l.instances - own(l.machine),
    memAvailKb: checks.find((c) => c.machine === l.machine)?.facts?.memory.availKb ?? 0,
  }));
}

/** Scales `app` to `instances`, placed by live load. `config` is the project's config object (e.g. the default
 *  export of its skiff.config.ts); the scheduler adds the app's `place`. */
export async function scheduleByLoad(o: { config: SkiffConfig; open?: Omit<OpenOptions, "config">; app: string; instances: number }) {
  let load: Load[] = [];
  const appConfig = o.config.apps?.[o.app];
  if (!appConfig) throw new Error(`no app ${o.app} in the config`);
  const config: SkiffConfig = { ...o.config, apps: { ...o.config.apps, [o.app]: { ...appConfig, place: (ctx) => placeByLoad(ctx, load) } } };
  const skiff = await Skiff.open({ ...o.open, config });
  load = await readLoad(skiff, o.app);
  const result = await skiff.scale({ [o.app]: o.instances });
  return { load, result };
}

async function main(argv: string[]): Promise<number> {
  const arg = (n: string) => argv[argv.indexOf(n) + 1];
  if (!argv.includes("--config") || !argv.includes("--app") || !argv.includes("--instances")) {
    process.stderr.write("usage: scheduler.ts --config skiff.config.ts --app APP --instances N\n");
    return 2;
  }
  const { resolve } = await import("node:path");
  const mod = (await import(resolve(arg("--config")!))) as { default: SkiffConfig };
  const { load, result } = await scheduleByLoad({ config: mod.default, app: arg("--app")!, instances: Number(arg("--instances")) });
  for (const l of load) process.stdout.write(`${l.machine}: ${l.instances} other instance(s), ${(l.memAvailKb / 1024).toFixed(0)} MB free\n`);
  for (const a of result.outcomes) process.stdout.write(`${a.app}: release ${a.release}, ${Object.entries(a.placement).map(([m, n]) => `${m}: ${n}`).join(", ")} — ${a.result.ok ? "ok" : "FAILED"}\n`);
  return result.ok ? 0 : 1;
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) process.exitCode = await main(process.argv.slice(2));
