// bench/footprint-ab: two agent bundles' idle CPU on the same machine in the
// same run, alternated. On this shared 2-core host one bench/footprint run
// against another differs by ±0.1 point of a core (other benches, caches), more
// than a change of the agent's idle work; here bundle A (env A, a built
// skiff-agent.cjs, e.g. of the commit before a change) and bundle B (env B,
// default this worktree's dist/) take turns ROUNDS times: the agent is
// restarted on the bundle, left WARMUP s, then its CPU is counted over IDLE s.
// The set-up is bench/footprint's (one fresh bed machine, two process apps, 4
// instances, health every 1 s), deployed once with this worktree's agent.
// Figures, not assertions.
import { execFileSync } from "node:child_process";
import { DOCKER, faults, up } from "../testbed/bed.ts";
import { makeProject } from "../test/e2e/helpers.ts";
import { configure, skiff } from "./lib-footprint.ts";

const IDLE_S = Number(process.env.IDLE ?? 45);
const WARMUP_S = Number(process.env.WARMUP ?? 15);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const bundles = { A: process.env.A, B: process.env.B ?? new URL("../dist/skiff-agent.cjs", import.meta.url).pathname };
if (!bundles.A) throw new Error("A=path/to/skiff-agent.cjs (the bundle to compare with) is required");

const bed = await up({ count: 1, fresh: true });
const m = bed.machines[0]!;
const p = makeProject(bed);
configure(bed, p);
for (const args of [["machines", "trust", "--yes"], ["setup"], ["deploy"]]) await skiff(p, args);
for (const [k, file] of Object.entries(bundles)) execFileSync(DOCKER, ["cp", file!, `${m.container}:/tmp/agent-${k}.cjs`]);
await faults.exec(m, "cp /usr/local/bin/skiff-agent /tmp/skiff-agent.orig");

const pidNow = async () => (await faults.exec(m, "cat /run/skiff/agent.pid 2>/dev/null || true")).trim();
const ticks = async (pid: string) => Number((await faults.exec(m, `awk '{print $14 + $15}' /proc/${pid}/stat`)).trim());
const tck = Number(await faults.exec(m, "getconf CLK_TCK"));

/** Restarts the agent on bundle k (the wrapper names its file; the supervising loop starts it again). */
async function restartOn(k: string): Promise<string> {
  const old = await pidNow();
  await faults.exec(m, `sed 's|/var/lib/skiff/agent/skiff-agent.cjs|/tmp/agent-${k}.cjs|' /tmp/skiff-agent.orig >/usr/local/bin/skiff-agent; kill ${old}`);
  let pid = "";
  for (let i = 0; i < 100 && (!pid || pid === old); i++) {
    await new Promise((r) => setTimeout(r, 200));
    pid = await pidNow();
  }
  await faults.exec(m, "i=0; until /usr/local/bin/skiff-agent call ping >/dev/null 2>&1 || [ $i -ge 50 ]; do sleep 0.2; i=$((i+1)); done");
  return pid;
}

const pct: Record<string, number[]> = { A: [], B: [] };
console.log(`bench/footprint-ab — A ${bundles.A}, B ${bundles.B}; ${ROUNDS} rounds, ${WARMUP_S} s warm-up, ${IDLE_S} s counted`);
for (let r = 0; r < ROUNDS; r++) {
  for (const k of r % 2 ? ["B", "A"] : ["A", "B"]) {
    const pid = await restartOn(k);
    await new Promise((res) => setTimeout(res, WARMUP_S * 1000));
    const t0 = await ticks(pid);
    const s0 = performance.now();
    await new Promise((res) => setTimeout(res, IDLE_S * 1000));
    const t1 = await ticks(pid);
    const s = (performance.now() - s0) / 1000;
    pct[k]!.push(((t1 - t0) / tck / s) * 100);
    console.log(`  round ${r + 1} ${k}: ${pct[k]!.at(-1)!.toFixed(2)} % of a core (${t1 - t0} ticks in ${s.toFixed(0)} s)`);
  }
}
await faults.exec(m, "cp /tmp/skiff-agent.orig /usr/local/bin/skiff-agent; kill $(cat /run/skiff/agent.pid)");
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
console.log(`  mean A ${mean(pct.A!).toFixed(2)} %, B ${mean(pct.B!).toFixed(2)} %, B − A ${(mean(pct.B!) - mean(pct.A!)).toFixed(2)} point`);
