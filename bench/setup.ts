// bench/setup: wall time of `skiff setup` on fresh machines at several fleet
// sizes (COUNTS, default 3 and 8), with where the time goes: each step's median
// and slowest machine (from the --json step events), the probe before the first
// step, and how busy this host's CPUs were meanwhile (the bed's machines share
// them: near 100 % means the host, not skiff, sets the pace). Then at 3
// machines: setup again (no change) and `skiff machines check` cold and warm,
// next to a plain `ssh host true` per machine as the floor.
// SKIFF_BIN=/path/to/bin/skiff.js runs another build (a worktree of an older
// commit) for before/after figures in the same session.
// Figures, not assertions: these machines are noisy.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bedConfig, down, up, type Bed } from "../testbed/bed.ts";

const COUNTS = (process.env.COUNTS ?? "3,8").split(",").map(Number);
const CHECKS = Number(process.env.CHECKS ?? 5);
const BIN = process.env.SKIFF_BIN ?? new URL("../bin/skiff.js", import.meta.url).pathname;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

interface Run { code: number | null; stdout: string; stderr: string; ms: number }

function skiff(dir: string, args: string[], socketDir: string): Promise<Run> {
  const t0 = performance.now();
  const p = spawn(process.execPath, [BIN, ...args], { cwd: dir, env: { ...process.env, SKIFF_SOCKET_DIR: socketDir, NO_COLOR: "1" }, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  p.stdout.on("data", (b) => (stdout += b));
  p.stderr.on("data", (b) => (stderr += b));
  return new Promise((resolve) => p.on("close", (code) => resolve({ code, stdout, stderr, ms: performance.now() - t0 })));
}

async function must(r: Promise<Run>): Promise<Run> {
  const x = await r;
  if (x.code !== 0) throw new Error(`failed (${x.code}): ${x.stderr}\n${x.stdout}`);
  return x;
}

/** Busy and total jiffies of all CPUs, from /proc/stat. */
function cpuTimes(): { busy: number; total: number } {
  const f = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
  const idle = f[3]! + (f[4] ?? 0);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

async function freshProject(count: number): Promise<{ bed: Bed; dir: string; sock: string }> {
  const bed = await up({ count, fresh: true });
  const dir = mkdtempSync(join(tmpdir(), "skiff-bench-setup-"));
  writeFileSync(join(dir, "skiff.yml"), bedConfig(bed, { extra: "apps:\n  web: { image: nginx:1.27 }\n" }));
  const sock = mkdtempSync(join(tmpdir(), "skiff-bench-sock-"));
  await must(skiff(dir, ["machines", "trust", "--yes"], sock));
  return { bed, dir, sock };
}

interface StepEvent { type: string; machine: string; step: string; status: string; ms?: number; at: string }

/** Step labels without the parts that differ per run (package lists, paths). */
const stepName = (s: string) => s.replace(/^install .* \(apt\)$/, "install packages (apt)").replace(/ \([^()]*\)$/, "");

interface Row { count: number; wall: number; cpu: number; probe: number; steps: Map<string, number[]> }

async function measure(count: number): Promise<Row> {
  const { dir, sock } = await freshProject(count);
  const c0 = cpuTimes();
  const started = Date.now();
  const r = await must(skiff(dir, ["--json", "setup"], sock));
  const c1 = cpuTimes();
  const events = r.stdout.split("\n").filter((l) => l.startsWith('{"type":"step"')).map((l) => JSON.parse(l) as StepEvent);
  const steps = new Map<string, number[]>();
  const firstStart = new Map<string, number>();
  for (const e of events) {
    if (e.status === "start" && !firstStart.has(e.machine)) firstStart.set(e.machine, Date.parse(e.at));
    if (e.status !== "ok" || e.ms === undefined) continue;
    const k = stepName(e.step);
    steps.set(k, [...(steps.get(k) ?? []), e.ms]);
  }
  const probe = median([...firstStart.values()].map((t) => t - started));
  return { count, wall: r.ms, cpu: (c1.busy - c0.busy) / (c1.total - c0.total), probe, steps };
}

const rows: Row[] = [];
for (const n of COUNTS) rows.push(await measure(n));

console.log(`bench/setup — ${BIN}`);
console.log(`  fresh machines, one setup each size; per step: median / slowest machine`);
const base = rows[0]!;
for (const row of rows) {
  console.log(`  setup, ${String(row.count).padStart(2)} fresh machines   ${secs(row.wall)}   ratio to ${base.count} = ${(row.wall / base.wall).toFixed(2)}   host CPU busy ${(row.cpu * 100).toFixed(0)} %   (CLI start + probe ≈ ${secs(row.probe)})`);
  for (const [k, ms] of row.steps) console.log(`      ${k.padEnd(34)} ${secs(median(ms))} / ${secs(Math.max(...ms))}`);
}

// Setup again and machines check, at 3 machines; a bigger bed goes first (it costs this host).
if (Math.max(...COUNTS) > 3) await down();
const { bed, dir, sock } = await freshProject(3);
await must(skiff(dir, ["setup"], sock));
const again = (await must(skiff(dir, ["setup"], sock))).ms;
const cold: number[] = [];
for (let i = 0; i < CHECKS; i++) cold.push((await must(skiff(dir, ["machines", "check"], mkdtempSync(join(tmpdir(), "skiff-bench-sock-"))))).ms);
const warmDir = mkdtempSync(join(tmpdir(), "skiff-bench-sock-"));
await must(skiff(dir, ["machines", "check"], warmDir));
const warm: number[] = [];
for (let i = 0; i < CHECKS; i++) warm.push((await must(skiff(dir, ["machines", "check"], warmDir))).ms);

// Floor: one plain ssh round trip per machine, one after another, no sharing.
const plain: number[] = [];
for (let i = 0; i < CHECKS; i++) {
  const t0 = performance.now();
  for (const m of bed.machines) {
    const r = spawnSync("ssh", ["-o", "BatchMode=yes", "-o", `UserKnownHostsFile=${dir}/.skiff/known_hosts`, "-i", bed.identityFile, "-p", String(m.sshPort), "root@127.0.0.1", "true"]);
    if (r.status !== 0) throw new Error(r.stderr.toString());
  }
  plain.push(performance.now() - t0);
}
console.log(`  setup again, 3 machines (no change) ${secs(again)}`);
console.log(`  machines check, 3 machines, cold    ${secs(median(cold))}`);
console.log(`  machines check, 3 machines, shared  ${secs(median(warm))}   cold/shared = ${(median(cold) / median(warm)).toFixed(2)}`);
console.log(`  plain 'ssh host true' x3, serial    ${secs(median(plain))}   (floor for comparison, no facts gathered)`);
