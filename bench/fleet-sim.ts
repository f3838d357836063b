// bench/fleet-sim: deploys to fleets this host cannot run as real machines (200 and
// 1,000 by default). Each machine is the agent's real code (core, activation, health
// gate, handlers, line server, ProxyController) over an in-memory process runtime and
// HAProxy, reached through an in-process transport (bench/sim/); the deploy, plan and
// rollback are the real CLI code (the Skiff API). Simulated boot and health time pass
// at once and are printed apart, so wall time here is what skiff itself costs. Per
// fleet size and step: wall time, time per machine, CPU of the CLI's code vs the
// simulated machines' (they share this process), RPC calls and bytes per machine,
// heap growth. Per-machine figures that grow with the fleet point at an O(n²) step.
// Figures, not assertions.
//   SIZES=200,1000   fleet sizes      BOOT_MS=500   simulated boot-to-healthy per instance
//   MAX_PARALLEL=…   the app's deploy.max_parallel (default: skiff's default)
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { Skiff } from "../src/api/skiff.ts";
import type { SkiffConfig } from "../src/api/config.ts";
import { cpuSplit, type CpuSplit } from "./sim/cpu-split.ts";
import { fleetConfig, simFleet, type SimFleet } from "./sim/fleet.ts";

const SIZES = (process.env.SIZES ?? "200,1000").split(",").map(Number);
const BOOT_MS = Number(process.env.BOOT_MS ?? 500);
const MAX_PARALLEL = process.env.MAX_PARALLEL;
const HELLO_NODE = new URL("../examples/hello-node", import.meta.url).pathname;

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

interface Step {
  step: string;
  wallMs: number;
  cpu: CpuSplit;
  heapMb: number;
  rssMb: number;
  /** Simulated time slept (boot, health intervals, drains): the most any one machine slept. */
  simMs: number;
  calls: number;
  bytes: number;
}

interface Size {
  n: number;
  maxParallel: string;
  steps: Step[];
  correct: string;
  /** The deploy of a new release's own phases (DeployResult.phases), when the API reports them. */
  phases?: unknown;
}

function traffic(f: SimFleet): { calls: number; bytes: number; slept: number[] } {
  let calls = 0;
  let bytes = 0;
  for (const m of f.machines) {
    for (const c of m.traffic.calls.values()) calls += c;
    bytes += m.traffic.bytesIn + m.traffic.bytesOut;
  }
  return { calls, bytes, slept: f.machines.map((m) => m.clock.skipped) };
}

async function step(f: SimFleet, name: string, fn: () => Promise<{ ok: boolean }>): Promise<Step> {
  gc();
  const heap0 = process.memoryUsage().heapUsed;
  const before = traffic(f);
  const t0 = performance.now();
  const { value, cpu } = await cpuSplit(fn);
  const wallMs = performance.now() - t0;
  if (!value.ok) throw new Error(`${name} on ${f.machines.length} simulated machines failed: ${JSON.stringify(value).slice(0, 2000)}`);
  const after = traffic(f);
  const mem = process.memoryUsage();
  gc();
  const s: Step = {
    step: name,
    wallMs,
    cpu,
    heapMb: (process.memoryUsage().heapUsed - heap0) / 1e6,
    rssMb: mem.rss / 1e6,
    simMs: Math.max(0, ...after.slept.map((x, i) => x - before.slept[i]!)),
    calls: after.calls - before.calls,
    bytes: after.bytes - before.bytes,
  };
  console.error(`fleet-sim: ${f.machines.length} machines: ${name} ${(wallMs / 1000).toFixed(2)} s`);
  return s;
}

async function measure(n: number): Promise<Size> {
  const fleet = simFleet(n, { bootMs: BOOT_MS });
  const dir = mkdtempSync(join(tmpdir(), "skiff-fleet-sim-project-"));
  const deploy = MAX_PARALLEL ? { max_parallel: /^\d+$/.test(MAX_PARALLEL) ? Number(MAX_PARALLEL) : MAX_PARALLEL } : {};
  const open = (version: string) => Skiff.open({ config: fleetConfig(fleet, HELLO_NODE, version, deploy) as SkiffConfig, dir, env: {}, settings: { user: "bench@fleet-sim" } });
  try {
    const steps: Step[] = [];
    let v1!: Skiff;
    steps.push(await step(fleet, "open (load, check config)", async () => ((v1 = await open("v1")), { ok: true })));
    steps.push(await step(fleet, "first deploy (ships)", () => v1.deploy()));
    let v2!: Skiff;
    steps.push(await step(fleet, "open again", async () => ((v2 = await open("v2")), { ok: true })));
    steps.push(await step(fleet, "plan", async () => ((await v2.plan()), { ok: true })));
    let phases: unknown;
    steps.push(await step(fleet, "deploy (new release)", async () => {
      const r = await v2.deploy();
      phases = (r as { phases?: unknown }).phases;
      return r;
    }));
    const after = fleet.machines.filter((m) => m.store.state("fleetsim", "web").active === 2).length;
    steps.push(await step(fleet, "rollback", () => v2.rollback()));
    const back = fleet.machines.filter((m) => m.store.state("fleetsim", "web").active === 1).length;
    return { n, maxParallel: String(v2.project.apps.web!.deploy.maxParallel), steps, correct: `${after}/${n} on release 2 after the deploy, ${back}/${n} on release 1 after the rollback`, phases };
  } finally {
    fleet.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const sizes: Size[] = [];
for (const n of SIZES) sizes.push(await measure(n));

const pad = (x: string, w: number) => x.padStart(w);
const sec = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
console.log(`bench/fleet-sim — simulated machines (real agent code, in-memory runtime and HAProxy, in-process transport), real CLI code; process app, one instance per machine, simulated boot ${BOOT_MS} ms`);
for (const z of sizes) {
  console.log(`\n${z.n} machines (max_parallel ${z.maxParallel}); ${z.correct}`);
  console.log(`${"step".padEnd(26)} ${pad("wall", 9)} ${pad("per machine", 11)} ${pad("CLI cpu", 9)} ${pad("machines cpu", 12)} ${pad("wire", 8)} ${pad("other", 8)} ${pad("calls/m", 8)} ${pad("KB/m", 8)} ${pad("heap Δ", 9)} ${pad("rss", 8)} ${pad("simulated", 10)}`);
  for (const s of z.steps) {
    console.log(
      `${s.step.padEnd(26)} ${pad(sec(s.wallMs), 9)} ${pad(`${(s.wallMs / z.n).toFixed(2)} ms`, 11)} ${pad(sec(s.cpu.cliMs), 9)} ${pad(sec(s.cpu.machinesMs), 12)} ${pad(sec(s.cpu.wireMs), 8)} ${pad(sec(s.cpu.otherMs), 8)} ${pad((s.calls / z.n).toFixed(1), 8)} ${pad((s.bytes / z.n / 1024).toFixed(1), 8)} ${pad(`${s.heapMb.toFixed(0)} MB`, 9)} ${pad(`${s.rssMb.toFixed(0)} MB`, 8)} ${pad(sec(s.simMs), 10)}`,
    );
  }
  const orchestrated = z.steps.filter((s) => s.step === "plan" || s.step === "deploy (new release)");
  const sum = (f: (s: Step) => number) => orchestrated.reduce((a, s) => a + f(s), 0);
  // The simulated machines' work runs here, one after another on this host's cores; on a real fleet each machine
  // does its part at once with the others. So the wall time overstates what skiff's CLI costs, and the CLI's own
  // CPU (plus the wire's, shared with the machines) is the figure to hold against the target.
  console.log(`plan + deploy of a new release: ${sec(sum((s) => s.wallMs))} wall (simulated boot/health excluded; the simulated machines' CPU included, ${sec(sum((s) => s.cpu.machinesMs))}), CLI cpu ${sec(sum((s) => s.cpu.cliMs))} (+ wire ${sec(sum((s) => s.cpu.wireMs))}); target at 1,000 machines ≤ 10 s`);
  for (const s of z.steps.filter((x) => x.cpu.topCli.length && x.step !== "open again")) console.log(`  CLI's busiest code in ${s.step}: ${s.cpu.topCli.slice(0, 4).map((f) => `${f.fn} ${sec(f.ms)}`).join("; ")}`);
  if (z.phases) console.log(`  phases of the deploy (new release), ms: ${JSON.stringify(z.phases)}`);
  const d = z.steps.find((x) => x.step === "deploy (new release)");
  if (d?.cpu.topMachines.length) console.log(`  the machines' busiest code in deploy (new release): ${d.cpu.topMachines.slice(0, 4).map((f) => `${f.fn} ${sec(f.ms)}`).join("; ")}`);
}
if (sizes.length > 1) {
  const [a, b] = [sizes[0]!, sizes[sizes.length - 1]!];
  console.log(`\nper machine, ${b.n} vs ${a.n} (1.00 = linear; well above 1 = a step that grows faster than the fleet):`);
  for (const s of b.steps) {
    const o = a.steps.find((x) => x.step === s.step)!;
    const r = (x: number, y: number) => (y > 0 ? (x / b.n / (y / a.n)).toFixed(2) : "–");
    const grows = (x: number, y: number) => y > 0 && x / b.n / (y / a.n) > 1.5;
    const which = [["wall", s.wallMs, o.wallMs], ["CLI cpu", s.cpu.cliMs, o.cpu.cliMs], ["calls", s.calls, o.calls], ["bytes", s.bytes, o.bytes]].filter(([, x, y]) => grows(x as number, y as number)).map(([k]) => k);
    console.log(`  ${s.step.padEnd(26)} wall ${r(s.wallMs, o.wallMs)}  CLI cpu ${r(s.cpu.cliMs, o.cpu.cliMs)}  calls ${r(s.calls, o.calls)}  bytes ${r(s.bytes, o.bytes)}${which.length ? `   ← ${which.join(", ")} per machine grow with the fleet` : ""}`);
  }
}
