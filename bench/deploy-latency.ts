// bench/deploy-latency: on 3 machines, the wall time of a deploy whose image is
// already shipped, and of a rollback cold (previous instances gone) and warm
// (previous instances kept as backups), next to the app's own boot-to-healthy
// time; for rollbacks also the time until HAProxy serves the old release; and
// where a deploy's time goes (its phases, from `skiff --json deploy`).
// Figures, not assertions.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { bedConfig, faults, up } from "../testbed/bed.ts";
import { makeProject } from "../test/e2e/helpers.ts";

const ROUNDS = Number(process.env.ROUNDS ?? 3);
const HELLO = new URL("../examples/hello", import.meta.url).pathname;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

const bed = await up({ count: 3, fresh: true });
const p = makeProject(bed);
const configure = (mark: string, warm: boolean) =>
  writeFileSync(
    join(p.dir, "skiff.yml"),
    bedConfig(bed, {
      project: "benchlat",
      extra: `apps:
  web:
    build: { context: ${HELLO}, args: { VERSION: bench } }
    port: 3000
    instances: 6
    health: { path: /healthz, interval: 200ms, deadline: 20s }
    routes: [{ path: / }]
    env: { MARK: ${mark} }
    deploy: { drain_timeout: 2s, stop_timeout: 2s, probation: ${warm ? "10m" : "100ms"}, keep_warm: ${warm} }
`,
    }),
  );

type Phases = Record<string, number>;
const deployPhases: Phases[] = [];
const machinePhases: Phases[] = [];

async function run(args: string[]): Promise<number> {
  const t0 = performance.now();
  const r = await p.skiff(args);
  if (r.code !== 0) throw new Error(`skiff ${args.join(" ")} failed:\n${r.stderr}`);
  return performance.now() - t0;
}

/** A deploy with --json: its wall time, and its phases kept for the breakdown. */
async function deployTimed(): Promise<number> {
  const t0 = performance.now();
  const r = await p.skiff(["--json", "deploy"]);
  const took = performance.now() - t0;
  if (r.code !== 0) throw new Error(`skiff deploy failed:\n${r.stderr}`);
  for (const line of r.stdout.split("\n").filter((l) => l.startsWith("{"))) {
    const o = JSON.parse(line) as { deploy?: { phases?: Phases }; switched?: { phases?: Phases }[] };
    if (o.deploy?.phases) deployPhases.push(o.deploy.phases);
    for (const s of o.switched ?? []) if (s.phases) machinePhases.push(s.phases);
  }
  return took;
}

/** Median per key, in seconds, in the order the keys first appear. */
function breakdown(rows: Phases[]): string {
  const keys = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  return keys.map((k) => `${k} ${(median(rows.map((r) => r[k] ?? 0)) / 1000).toFixed(2)}`).join(" · ");
}

/** Runs a rollback while polling m1 until it serves `mark`; returns [command time, time to first old response]. */
async function rollbackTimed(expectMark: string): Promise<[number, number]> {
  const t0 = performance.now();
  let seen = -1;
  let polling = true;
  const poll = (async () => {
    while (polling) {
      const body = await (await fetch(`http://127.0.0.1:${bed.machines[0]!.httpPort}/env/MARK`).catch(() => undefined))?.text().catch(() => "");
      if (seen < 0 && body?.includes(expectMark)) seen = performance.now() - t0;
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  const r = await p.skiff(["--json", "rollback"]);
  const took = performance.now() - t0;
  polling = false;
  await poll;
  if (r.code !== 0) throw new Error(`skiff rollback failed:\n${r.stderr}`);
  for (const line of r.stdout.split("\n").filter((l) => l.startsWith("{"))) {
    const o = JSON.parse(line) as { rollback?: { ms: number; phases?: Phases }; switched?: { phases?: Phases }[] };
    if (o.rollback?.phases) rollbackPhases[round].push({ ...o.rollback.phases, "start and exit": took - o.rollback.ms });
    for (const x of o.switched ?? []) if (x.phases) rollbackMachine[round].push(x.phases);
  }
  return [took, seen];
}
type Round = "cold" | "warm" | "warm, settled";
const rollbackPhases: Record<Round, Phases[]> = { cold: [], warm: [], "warm, settled": [] };
const rollbackMachine: Record<Round, Phases[]> = { cold: [], warm: [], "warm, settled": [] };
let round: Round = "cold";

for (const a of [["machines", "trust", "--yes"], ["setup"]]) await run(a);

// The app's own boot-to-healthy time, measured on m1 with the same image and no skiff in between.
configure("boot", false);
await run(["deploy"]);
const image = (await faults.exec(bed.machines[0]!, "docker ps --filter label=skiff.project=benchlat --format '{{.Image}}' | head -1")).trim();
const boot: number[] = [];
for (let i = 0; i < ROUNDS; i++) {
  const ns = await faults.exec(
    bed.machines[0]!,
    `t0=$(date +%s%N); c=$(docker run -d --rm -p 127.0.0.1:29999:3000 ${image}); until curl -sf http://127.0.0.1:29999/healthz >/dev/null; do sleep 0.005; done; t1=$(date +%s%N); docker rm -f $c >/dev/null; echo $((t1 - t0))`,
  );
  boot.push(Number(ns) / 1e6);
}

// What Docker alone takes here to start a wave's instances: 2 containers of the image at once on m1 (the canary
// wave), then on m2 and m3 at the same time (the second wave; every machine runs on this host), through the Engine
// API as the agent starts them (create, start), timed on the machines. With the health gate's two passes one interval
// apart, it is the least a deploy in these two waves can take, whatever skiff does around it.
async function dockerStarts(ms: typeof bed.machines): Promise<number> {
  const api = `curl -sf --unix-socket /var/run/docker.sock -H 'Content-Type: application/json' -X POST`;
  const one = (i: number) => `(${api} -d '{"Image":"${image}","HostConfig":{"Init":true}}' "http://docker/containers/create?name=skiff-lat-${i}" >/dev/null && ${api} http://docker/containers/skiff-lat-${i}/start)`;
  const times = await Promise.all(
    ms.map((m) => faults.exec(m, `t0=$(date +%s%N); ${one(1)} & ${one(2)} & wait; t1=$(date +%s%N); docker rm -f skiff-lat-1 skiff-lat-2 >/dev/null; echo $((t1 - t0))`)),
  );
  return Math.max(...times.map((t) => Number(t) / 1e6));
}
const startCanary: number[] = [];
const startRest: number[] = [];
for (let i = 0; i < ROUNDS; i++) {
  startCanary.push(await dockerStarts([bed.machines[0]!]));
  startRest.push(await dockerStarts(bed.machines.slice(1)));
}

/** Deploys a release, deploys the next (timed), waits `settleMs`, then rolls back to the first (timed). */
async function roundTrip(first: string, second: string, warm: boolean, settleMs: number) {
  configure(first, warm);
  await run(["deploy"]);
  configure(second, warm);
  const deploy = await deployTimed();
  await new Promise((r) => setTimeout(r, settleMs));
  const [rollback, served] = await rollbackTimed(first);
  return { deploy, rollback, served };
}

// Cold: 1.5 s after the deploy, the probation is over and the first release's instances are gone. Warm: at once,
// while the machines still stop the instances the deploy retired (it answers before they are stopped: Docker's
// stops then share these 2 cores with the rollback), and 1.5 s later, as the cold one, once they are stopped.
const SETTLE_MS = 1500;
const coldRuns = [];
const warmRuns = [];
const warmSettledRuns = [];
for (let i = 0; i < ROUNDS; i++) coldRuns.push(await roundTrip(`a${i}`, `b${i}`, false, SETTLE_MS));
for (let i = 0; i < ROUNDS; i++) {
  round = "warm";
  warmRuns.push(await roundTrip(`c${i}`, `d${i}`, true, 0));
  round = "warm, settled";
  warmSettledRuns.push(await roundTrip(`e${i}`, `f${i}`, true, SETTLE_MS));
}
const deploys = coldRuns.map((r) => r.deploy);
const [cold, coldServe] = [coldRuns.map((r) => r.rollback), coldRuns.map((r) => r.served)];
const [warm, warmServe] = [warmRuns.map((r) => r.rollback), warmRuns.map((r) => r.served)];
const [settled, settledServe] = [warmSettledRuns.map((r) => r.rollback), warmSettledRuns.map((r) => r.served)];

console.log(`bench/deploy-latency — 3 machines, 2 instances each, deploys in waves (the default: m1 alone, then m2 and m3), rollbacks all at once, ${ROUNDS} rounds (median)`);
console.log(`  app boot-to-healthy (docker run → first 200, m1)     ${s(median(boot))}`);
console.log(`  deploy, image already on the machines               ${s(median(deploys))}   = boot + ${s(median(deploys) - median(boot))} (target: boot + 1.5 s)`);
if (deployPhases.length) console.log(`    deploy phases (s)      ${breakdown(deployPhases)}`);
if (machinePhases.length) console.log(`    per machine (s)        ${breakdown(machinePhases)}   (health gate: 2 passes 200 ms apart)`);
const floor = median(startCanary) + median(startRest) + 2 * 200;
console.log(
  `    Docker alone           2 containers started on m1 ${s(median(startCanary))}, on m2 and m3 at once ${s(median(startRest))}: with 2 health passes 200 ms apart per wave, no deploy in these waves takes under ${s(floor)} here (target boot + 1.5 s = ${s(median(boot) + 1500)})`,
);
console.log(`  rollback, cold (previous instances stopped)         ${s(median(cold))}   m1 serves the old release after ${s(median(coldServe))}`);
console.log(`  rollback, warm (keep_warm: previous kept as backup) ${s(median(warm))}   m1 serves the old release after ${s(median(warmServe))}   (right after the deploy)`);
console.log(`${`  rollback, warm, ${(SETTLE_MS / 1000).toFixed(1)} s after the deploy`.padEnd(54)}${s(median(settled))}   m1 serves the old release after ${s(median(settledServe))}   (target: warm rollback ≤ 0.8 s)`);
for (const k of ["cold", "warm", "warm, settled"] as const) {
  if (rollbackPhases[k].length) console.log(`    ${k} rollback phases (s)  ${breakdown(rollbackPhases[k])}`);
  if (rollbackMachine[k].length) console.log(`    per machine (s)        ${breakdown(rollbackMachine[k])}`);
}
