// bench/rollback-profile: where an agent's CPU goes in rollbacks. A fresh bed of
// MACHINES (default 3) runs the fleet bench's app (hello-node, one instance per
// machine); after two deploys the first machine's agent is restarted with V8's
// sampling profiler on (--cpu-prof), then ROLLBACKS rollbacks run back and forth
// between the two releases (the other is in its probation: no app boots). The
// agent's CPU ticks over the rollbacks and the functions that took the most of
// it (self and inclusive time) are printed. Figures for finding work, not a
// measure (the profiler costs CPU of its own). PROFILE_OUT=FILE keeps the profile.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { down, faults, up, type Bed } from "../testbed/bed.ts";
import { fleetConfig } from "./lib-fleet.ts";
import { makeProject } from "../test/e2e/helpers.ts";
import { printTop, profileAgent, profileMs, stopProfiled, sumProfile } from "./lib-profile.ts";

const MACHINES = Number(process.env.MACHINES ?? 3);
const ROLLBACKS = Number(process.env.ROLLBACKS ?? 6);
const TOP = Number(process.env.TOP ?? 30);

const config = (bed: Bed, version: string) => fleetConfig(bed, version);

// Nothing of a larger bed left running (a 20-machine run before a 3-machine one): its machines would share this
// host's cores, and their peers' checks would reach this bed's.
await down();
const bed = await up({ count: MACHINES, fresh: true });
const m = bed.machines[0]!;
const p = makeProject(bed);
const skiff = async (args: string[]) => {
  const t0 = performance.now();
  const r = await p.skiff(args);
  if (r.code !== 0) throw new Error(`skiff ${args.join(" ")} failed (exit ${r.code}):\n${r.stderr.slice(-3000)}`);
  return performance.now() - t0;
};
writeFileSync(join(p.dir, "skiff.yml"), config(bed, "v1"));
await skiff(["machines", "trust", "--yes"]);
await skiff(["setup"]);
await skiff(["deploy"]);
writeFileSync(join(p.dir, "skiff.yml"), config(bed, "v2"));
await skiff(["deploy"]);

const { pid, started } = await profileAgent(m);
await new Promise((r) => setTimeout(r, 3000));
const ticks = async () => Number((await faults.exec(m, `awk '{print $14 + $15}' /proc/${pid}/stat`)).trim());
const k0 = await ticks();
const t0 = performance.now();
const times: number[] = [];
for (let i = 0; i < ROLLBACKS; i++) times.push(await skiff(["rollback", "--to", String(i % 2 === 0 ? 1 : 2)]));
const t1 = performance.now();
const k1 = await ticks();
const prof = await stopProfiled(m, pid);

const sum = sumProfile(prof, prof.startTime + (t0 - started) * 1000, prof.startTime + (t1 - started) * 1000);
console.log(`bench/rollback-profile — ${MACHINES} machines, ${ROLLBACKS} rollbacks (${times.map((x) => (x / 1000).toFixed(2)).join(", ")} s); agent of ${m.name}, pid ${pid}, profiler on`);
console.log(`  agent CPU over the rollbacks: ${((k1 - k0) * 10).toFixed(0)} ms by /proc (${(((k1 - k0) * 10) / ROLLBACKS).toFixed(0)} ms per rollback); sampled ${profileMs(sum.total)}`);
printTop(sum, TOP);
