// bench/fleet: how setup, deploy and rollback grow with the fleet. At each size
// (3, 8, 15, 20 machines; a fresh bed per size) a process app (examples/hello-node,
// one instance per machine, the rollout's own defaults) is set up, deployed once,
// then deployed again with a new release (timed) and rolled back (timed: the
// previous release is still in its probation, running as a backup: 45 s here), then rolled
// back once more with `keep_warm` (timed). Printed as a table with the ratio to the
// smallest size, the deploy's phases when `skiff --json deploy` reports them, and
// for each timed command where this host's CPU went (bench/lib-cpu.ts: apps, agents,
// HAProxy, the CLI, ssh, the kernel…) with the least wall time those CPU-seconds need
// on its cores. Figures, not assertions: this host has 2 cores and runs every
// machine, so part of any growth is the host, not skiff.
//   SIZES=3,8        sizes to run (default 3,8,15,20)
//   ROUNDS=1         deploy + rollback rounds per size (median printed)
//   SETTLE_S=50      seconds to wait before each round after the first, and before each keep_warm round: the
//                    release the previous rollback left runs on for its probation (45 s here), and a deploy started
//                    sooner runs beside it (a third app instance on a machine of MACHINE_CPUS: at 20 capped machines
//                    the second and third rounds took 35–65 % longer than the first; settled, they took no longer)
//   KEEP=1           leave the last bed running (default: down after a size above 3)
//   MACHINE_CPUS=0.075  after setup and the first deploy, cap every machine at this many cores (docker update
//                    --cpus): machines of one size at every fleet size, as a real fleet's are, instead of 2 cores
//                    shared by 3 machines in one run and by 20 in the next. The timed commands (and the idle
//                    fleet's figure) then say how skiff grows with the fleet, not how this host's cores divide; the
//                    CLI still runs on this host, uncapped. Unset: no cap.
import { writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { execFileSync } from "node:child_process";
import { DOCKER, down, faults, up, type Bed } from "../testbed/bed.ts";
import { makeProject, type Project, type Run } from "../test/e2e/helpers.ts";
import { canMeter, cpuLine, cpuMeter, hostTimes, type CpuReport } from "./lib-cpu.ts";
import { fleetConfig, HELLO_NODE } from "./lib-fleet.ts";
import { NODE_BIN } from "../src/contracts/paths.ts";

const SIZES = (process.env.SIZES ?? "3,8,15,20").split(",").map(Number);
const ROUNDS = Number(process.env.ROUNDS ?? 1);
const SETTLE_S = Number(process.env.SETTLE_S ?? 50);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

if (!(SETTLE_S >= 0)) {
  console.error(`SETTLE_S must be a number of seconds, 0 or more (got ${process.env.SETTLE_S})`);
  process.exit(2);
}
if (SIZES.some((n) => !Number.isInteger(n) || n < 1)) {
  console.error(`SIZES must be whole numbers of machines, comma-separated (got ${process.env.SIZES})`);
  process.exit(2);
}
const CAP = process.env.MACHINE_CPUS ? Number(process.env.MACHINE_CPUS) : undefined;
if (CAP !== undefined && !(CAP >= 0.01 && CAP <= cpus().length)) {
  console.error(`MACHINE_CPUS must be a number of cores from 0.01 to this host's ${cpus().length} (got ${process.env.MACHINE_CPUS})`);
  process.exit(2);
}

// The timed rollback goes back to the release the deploy left, while its instances still run (in the probation):
// at 20 capped machines a deploy takes 22–30 s, about skiff's default probation (30 s), so the canary machine's could
// be stopped already and that machine's rollback would boot the app again, at 20 machines and not at 3. 45 s covers
// it (and each round waits SETTLE_S for it to end).
const PROBATION = "45s";
const config = (bed: Bed, version: string, warm = false) => fleetConfig(bed, version, warm, PROBATION);
const settle = () => new Promise((r) => setTimeout(r, SETTLE_S * 1000));

/** The host's CPU time so far (all cores): what is not idle, and the total (lib-cpu's /proc/stat reading). */
function hostCpu(): { busy: number; total: number } {
  const t = hostTimes();
  return { busy: t.total - t.idle, total: t.total };
}

/** Runs a skiff command; `busy` is the share of this host's CPU in use meanwhile (every machine runs on it: near
 *  100 % means the command waited for this host's cores, not for skiff); `cpu`, with `bed`, where that CPU went. */
async function timed(p: Project, args: string[], bed?: Bed): Promise<{ ms: number; run: Run; busy: number; cpu?: CpuReport }> {
  const meter = bed && canMeter() ? cpuMeter(bed.machines.map((m) => m.container)) : undefined;
  const c0 = hostCpu();
  const t0 = performance.now();
  const run = await p.skiff(args);
  const ms = performance.now() - t0;
  const c1 = hostCpu();
  const cpu = await meter?.stop();
  if (run.code !== 0) throw new Error(`skiff ${args.join(" ")} failed (exit ${run.code}):\n${run.stderr.slice(-3000)}`);
  return { ms, run, busy: (c1.busy - c0.busy) / Math.max(1, c1.total - c0.total), cpu };
}

/** The `--json` output's lines that parse, as objects (a command prints one per app, among other lines). */
function* jsonLines(stdout: string): Generator<Record<string, unknown>> {
  for (const line of stdout.split("\n")) {
    try {
      const o: unknown = JSON.parse(line);
      if (o && typeof o === "object") yield o as Record<string, unknown>;
    } catch {}
  }
}

/** The deploy's phases from `--json deploy`: the whole deploy's (`deploy.phases`), else the first `phases` found
 *  (absent: undefined). */
function phasesOf(stdout: string): Record<string, unknown> | undefined {
  for (const o of jsonLines(stdout)) {
    const whole = (o as { deploy?: { phases?: Record<string, unknown> } }).deploy?.phases;
    if (whole) return whole;
  }
  const find = (v: unknown): Record<string, unknown> | undefined => {
    if (!v || typeof v !== "object") return undefined;
    const o = v as Record<string, unknown>;
    if (o.phases && typeof o.phases === "object") return o.phases as Record<string, unknown>;
    for (const x of Object.values(o)) {
      const f = find(x);
      if (f) return f;
    }
    return undefined;
  };
  for (const o of jsonLines(stdout)) {
    const f = find(o);
    if (f) return f;
  }
  return undefined;
}

/** A rollback's phases from `--json rollback` (lock, plan, rollout, release, and its `ms`: the rest of the
 *  command's wall time is Node's start and exit). */
function rollbackPhasesOf(stdout: string): { ms: number; phases: Record<string, number> } | undefined {
  for (const o of jsonLines(stdout)) {
    const r = (o as { rollback?: { ms: number; phases: Record<string, number> } }).rollback;
    if (r?.phases) return r;
  }
  return undefined;
}

/** Each wave's time and the slowest machine's activation phases, from `--json deploy`'s per-app line. */
function wavesOf(stdout: string): string | undefined {
  for (const line of jsonLines(stdout)) {
    const o = line as { waves?: { machines: string[]; ms: number }[]; switched?: { phases?: Record<string, number> }[] };
    if (!o.waves) continue;
    const worst: Record<string, number> = {};
    for (const sw of o.switched ?? []) for (const [k, v] of Object.entries(sw.phases ?? {})) worst[k] = Math.max(worst[k] ?? 0, v);
    const w = o.waves.map((x) => `${x.machines.length}:${(x.ms / 1000).toFixed(2)}s`).join(" + ");
    return `waves ${w} · slowest machine (ms) ${Object.entries(worst).map(([k, v]) => `${k} ${v}`).join(" · ")}`;
  }
  return undefined;
}

interface Row {
  n: number;
  waves?: string;
  rbWaves?: string;
  rbPhases?: string;
  busy: { deploy: number; rollback: number; idle: number };
  setup: number;
  first: number;
  /** bootAlone's figure. */
  boot: number;
  deploy: number;
  rollback: number;
  /** A rollback onto instances kept warm (keep_warm): no app boots, what skiff itself takes. */
  warmRollback: number;
  /** idle: the fleet doing nothing for 15 s before the rounds (what every timed command shares the machines with). */
  cpu: { idle?: CpuReport; deploy?: CpuReport; rollback?: CpuReport; warmRollback?: CpuReport };
  /** Every round's figures (ms), in order: a later round slower than the first says the fleet had not settled. */
  rounds: { deploy: number[]; rollback: number[]; warm: number[] };
  phases?: Record<string, unknown>;
}

/** The app's boot on m1 with no skiff in between (the capped machine, the rest of the fleet idle around it), ms,
 *  median of 3: its own node started by hand, polled every 100 ms until /healthz answers. The same machine at every
 *  size: what it takes longer at a larger size, the host took (these machines share its cores), not skiff. */
async function bootAlone(bed: Bed): Promise<number> {
  const m = bed.machines[0]!;
  execFileSync(DOCKER, ["cp", join(HELLO_NODE, "server.js"), `${m.container}:/tmp/fleet-boot.js`]);
  const runs: number[] = [];
  for (let k = 0; k < 3; k++) {
    const ns = await faults.exec(
      m,
      `t0=$(date +%s%N); PORT=29998 HOST=127.0.0.1 ${NODE_BIN} /tmp/fleet-boot.js >/dev/null 2>&1 & pid=$!; until curl -sf http://127.0.0.1:29998/healthz >/dev/null; do sleep 0.1; done; t1=$(date +%s%N); kill $pid; wait $pid; echo $((t1 - t0))`,
    );
    runs.push(Number(ns.trim()) / 1e6);
  }
  return median(runs);
}

async function measure(n: number): Promise<Row> {
  // Nothing of a larger bed left running (an earlier size, a KEEP=1 run): its machines would share this host's
  // cores and check this bed's machines' peers… (a 3-machine run measured beside 17 leftover machines was 3× slower).
  await down();
  const t0 = performance.now();
  const bed = await up({ count: n, fresh: true });
  console.error(`fleet: ${n} fresh machines up in ${s(performance.now() - t0)}`);
  const p = makeProject(bed);
  const write = (v: string) => writeFileSync(join(p.dir, "skiff.yml"), config(bed, v));
  write("v0");
  await timed(p, ["machines", "trust", "--yes"]);
  const setup = (await timed(p, ["setup"])).ms;
  const first = (await timed(p, ["deploy"])).ms;
  if (CAP !== undefined) await Promise.all(bed.machines.map((m) => faults.cpus(m, CAP)));
  // What the fleet costs this host doing nothing (checks, alert rounds, samplers): the timed commands share the
  // cores with it.
  await new Promise((r) => setTimeout(r, 5000));
  const idleMeter = canMeter() ? cpuMeter(bed.machines.map((m) => m.container)) : undefined;
  const i0 = hostCpu();
  await new Promise((r) => setTimeout(r, 15_000));
  const i1 = hostCpu();
  const idle = (i1.busy - i0.busy) / Math.max(1, i1.total - i0.total);
  const idleCpu = await idleMeter?.stop();
  const boot = await bootAlone(bed);
  const deploys: number[] = [];
  const rollbacks: number[] = [];
  let phases: Record<string, unknown> | undefined;
  let waves: string | undefined;
  let rbWaves: string | undefined;
  let rbPhases: string | undefined;
  const busy = { deploy: [] as number[], rollback: [] as number[] };
  const cpu: Row["cpu"] = { idle: idleCpu };
  for (let r = 0; r < ROUNDS; r++) {
    if (r > 0) await settle();
    write(`v${r + 1}`);
    const d = await timed(p, ["--json", "deploy"], bed);
    deploys.push(d.ms);
    busy.deploy.push(d.busy);
    cpu.deploy ??= d.cpu;
    phases ??= phasesOf(d.run.stdout);
    waves ??= wavesOf(d.run.stdout);
    const rb = await timed(p, ["--json", "rollback"], bed);
    rollbacks.push(rb.ms);
    busy.rollback.push(rb.busy);
    cpu.rollback ??= rb.cpu;
    rbWaves ??= wavesOf(rb.run.stdout);
    const rp = rollbackPhasesOf(rb.run.stdout);
    rbPhases ??= rp && `${Object.entries(rp.phases).map(([k, v]) => `${k} ${v}`).join(" · ")} · the command's start and exit ${Math.round(rb.ms - rp.ms)} (ms)`;
  }
  // The same rollback with the previous release's instances kept running as backups (keep_warm): what is left is
  // skiff's own work (HAProxy switches, state, the CLI), not twenty app boots on this host's cores.
  const warm: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    await settle();
    writeFileSync(join(p.dir, "skiff.yml"), config(bed, `w${r}a`, true));
    await timed(p, ["deploy"]);
    writeFileSync(join(p.dir, "skiff.yml"), config(bed, `w${r}b`, true));
    await timed(p, ["deploy"]);
    const w = await timed(p, ["--json", "rollback"], bed);
    warm.push(w.ms);
    cpu.warmRollback ??= w.cpu;
  }
  // A bed left running (KEEP=1, or the last size at 3) has its cores back for whatever runs on it next.
  if (CAP !== undefined) await Promise.all(bed.machines.map((m) => faults.cpus(m)));
  const row = { n, setup, first, boot, rounds: { deploy: deploys, rollback: rollbacks, warm }, deploy: median(deploys), rollback: median(rollbacks), warmRollback: median(warm), cpu, phases, waves, rbWaves, rbPhases, busy: { deploy: median(busy.deploy), rollback: median(busy.rollback), idle } };
  console.error(`fleet: ${n} machines: setup ${s(setup)}, first deploy ${s(first)}, deploy ${s(row.deploy)}, rollback ${s(row.rollback)}, warm rollback ${s(row.warmRollback)}`);
  return row;
}

const started = performance.now();
const rows: Row[] = [];
for (const n of SIZES) rows.push(await measure(n));
if (!process.env.KEEP && Math.max(...SIZES) > 3) await down();

const base = rows[0]!;
const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
const pad = (x: string, w: number) => x.padStart(w);
console.log(`bench/fleet — process app hello-node, one instance per machine, fresh bed per size, ${ROUNDS} round(s) (median)${SETTLE_S > 0 ? `, ${SETTLE_S} s settle before each round after the first` : ""}; ratios to ${base.n} machines`);
console.log(CAP !== undefined
  ? `every machine capped at ${CAP} cores after setup and its first deploy (MACHINE_CPUS): the same machine at every fleet size; setup and 1st deploy uncapped`
  : `machines uncapped: all of them share this host's ${cpus().length} cores (MACHINE_CPUS=0.075 gives each the same small share at every size)`);
console.log(`${pad("machines", 8)} ${pad("setup", 9)} ${pad("ratio", 6)} ${pad("1st deploy", 10)} ${pad("deploy", 9)} ${pad("ratio", 6)} ${pad("rollback", 9)} ${pad("ratio", 6)} ${pad("warm rb", 9)} ${pad("ratio", 6)} ${pad("deploy/machine", 15)}`);
for (const r of rows) {
  console.log(
    `${pad(String(r.n), 8)} ${pad(s(r.setup), 9)} ${pad(ratio(r.setup, base.setup), 6)} ${pad(s(r.first), 10)} ${pad(s(r.deploy), 9)} ${pad(ratio(r.deploy, base.deploy), 6)} ${pad(s(r.rollback), 9)} ${pad(ratio(r.rollback, base.rollback), 6)} ${pad(s(r.warmRollback), 9)} ${pad(ratio(r.warmRollback, base.warmRollback), 6)} ${pad(s(r.deploy / r.n), 15)}`,
  );
}
for (const r of rows)
  console.log(`app boot on m1 alone (no skiff; capped machine, the fleet idle) at ${r.n} machines: ${(r.boot / 1000).toFixed(2)} s, ${ratio(r.boot, base.boot)} of ${base.n} machines' (what the host adds to one machine's work as the fleet grows)`);
const last = rows[rows.length - 1]!;
if (rows.length > 1)
  console.log(
    `targets (issue 11): deploy at ${last.n} ≤ 2× at ${base.n}: ${ratio(last.deploy, base.deploy)}; rollback at ${last.n} ≤ 1.5× at ${base.n}: ${ratio(last.rollback, base.rollback)} (in the probation), ${ratio(last.warmRollback, base.warmRollback)} (keep_warm)`,
  );
// Every machine runs on this host: what the command cost its cores, by part. The host's CPU-seconds over its cores
// is the least wall time the command could have taken here, whatever skiff does in between.
for (const r of rows)
  for (const [what, c] of Object.entries(r.cpu))
    if (c) console.log(`${what} at ${r.n} machines: ${cpuLine(c)}${what === "idle" ? ` (a machine: ${((c.s.machines / r.n / (c.wallMs / 1000)) * 1000).toFixed(0)} mCPU${CAP !== undefined ? ` of its ${CAP * 1000}` : ""})` : ""}`);
for (const r of rows) console.log(r.phases ? `phases of the deploy at ${r.n} machines: ${JSON.stringify(r.phases)}` : `phases of the deploy at ${r.n} machines: not reported by \`skiff --json deploy\` (yet)`);
for (const r of rows) console.log(`host CPU busy at ${r.n} machines (every machine runs on this host): idle fleet ${(r.busy.idle * 100).toFixed(0)} %, deploy ${(r.busy.deploy * 100).toFixed(0)} %, rollback ${(r.busy.rollback * 100).toFixed(0)} %`);
if (ROUNDS > 1)
  for (const r of rows)
    console.log(`rounds at ${r.n} machines, in order: ${(["deploy", "rollback", "warm"] as const).map((k) => `${k} ${r.rounds[k].map((ms) => (ms / 1000).toFixed(1)).join(" / ")} s`).join(" · ")}`);
for (const r of rows) if (r.waves) console.log(`deploy at ${r.n} machines: ${r.waves}`);
for (const r of rows) if (r.rbWaves) console.log(`rollback at ${r.n} machines: ${r.rbWaves}`);
for (const r of rows) if (r.rbPhases) console.log(`rollback at ${r.n} machines, the CLI's phases: ${r.rbPhases}`);
console.log(`bench ran ${s(performance.now() - started)} (machine starts included)`);
