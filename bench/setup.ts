// bench/setup: wall time of `skiff setup` on fresh machines (3 in parallel vs 1
// alone: the ratio shows the parallelism) and of `skiff machines check` on 3
// machines, cold (new ssh connections) and warm (shared ControlMaster
// connections), next to a plain `ssh host true` per machine as the floor.
// Figures, not assertions: these machines are noisy.
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { up, type Bed } from "../testbed/bed.ts";
import { makeProject, type Project } from "../test/e2e/helpers.ts";

const ROUNDS = Number(process.env.ROUNDS ?? 2);
const CHECKS = Number(process.env.CHECKS ?? 5);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

async function timed(fn: () => Promise<{ code: number | null; stderr: string }>): Promise<number> {
  const t0 = performance.now();
  const r = await fn();
  if (r.code !== 0) throw new Error(`failed: ${r.stderr}`);
  return performance.now() - t0;
}

async function freshProject(): Promise<{ bed: Bed; p: Project }> {
  const bed = await up({ count: 3, fresh: true });
  const p = makeProject(bed, "apps:\n  web: { image: nginx:1.27 }\n");
  const t = await p.skiff(["machines", "trust", "--yes"]);
  if (t.code !== 0) throw new Error(t.stderr);
  return { bed, p };
}

const one: number[] = [];
const three: number[] = [];
for (let i = 0; i < ROUNDS; i++) {
  let { p } = await freshProject();
  one.push(await timed(() => p.skiff(["setup", "m1"])));
  ({ p } = await freshProject());
  three.push(await timed(() => p.skiff(["setup"])));
}
const { bed, p } = await freshProject();
await p.skiff(["setup"]);
const again = await timed(() => p.skiff(["setup"]));

const cold: number[] = [];
for (let i = 0; i < CHECKS; i++) {
  const sockets = mkdtempSync(join(tmpdir(), "skiff-bench-sock-"));
  cold.push(await timed(() => p.skiff(["machines", "check"], { socketDir: sockets })));
}
const warmDir = mkdtempSync(join(tmpdir(), "skiff-bench-sock-"));
await p.skiff(["machines", "check"], { socketDir: warmDir });
const warm: number[] = [];
for (let i = 0; i < CHECKS; i++) warm.push(await timed(() => p.skiff(["machines", "check"], { socketDir: warmDir })));

// Floor: one plain ssh round trip per machine, one after another, no sharing.
const plain: number[] = [];
for (let i = 0; i < CHECKS; i++) {
  const t0 = performance.now();
  for (const m of bed.machines) {
    const r = spawnSync("ssh", ["-o", "BatchMode=yes", "-o", `UserKnownHostsFile=${p.dir}/.skiff/known_hosts`, "-i", bed.identityFile, "-p", String(m.sshPort), "root@127.0.0.1", "true"]);
    if (r.status !== 0) throw new Error(r.stderr.toString());
  }
  plain.push(performance.now() - t0);
}

console.log(`bench/setup — ${ROUNDS} round(s) of setup from fresh, ${CHECKS} checks each (median)`);
console.log(`  setup, 1 fresh machine alone        ${secs(median(one))}`);
console.log(`  setup, 3 fresh machines in parallel ${secs(median(three))}   ratio 3/1 = ${(median(three) / median(one)).toFixed(2)} (1.00 = perfectly parallel, 3.00 = serial)`);
console.log(`  setup again, 3 machines (no change) ${secs(again)}`);
console.log(`  machines check, 3 machines, cold    ${secs(median(cold))}`);
console.log(`  machines check, 3 machines, shared  ${secs(median(warm))}   cold/shared = ${(median(cold) / median(warm)).toFixed(2)}`);
console.log(`  plain 'ssh host true' x3, serial    ${secs(median(plain))}   (floor for comparison, no facts gathered)`);
