// bench/logs-grep: `skiff logs APP --grep RE` over a large kept log on 3 bed
// machines (filtered on each machine, only matches cross SSH, merged by time)
// next to `ssh m grep RE FILES` on each machine in parallel, in the same run,
// alternated. The log is made on each machine (awk writing the kept format
// straight into the app's log directory), not sent over the network.
//   SIZE_MB (per machine, default 333: ~1 GB over 3 machines), ROUNDS (default 3)
// Three patterns: rare plain text (~30 lines a machine), common plain text (~1 % of lines), the rare one as a regex.
// Figures, not assertions; the match counts of both sides are checked equal.
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { bedConfig, faults, up } from "../testbed/bed.ts";
import { makeProject } from "../test/e2e/helpers.ts";

const SIZE_MB = Number(process.env.SIZE_MB ?? 333);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const HELLO = new URL("../examples/hello-node", import.meta.url).pathname;
const DIR = "/var/lib/skiff/logs/logsbench/gen";
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const bed = await up({ count: 3 });
const p = makeProject(bed);
// The app is never deployed: its kept log is made below. A release would bound it to 50 MB.
writeFileSync(join(p.dir, "skiff.yml"), bedConfig(bed, { project: "logsbench", extra: `apps:\n  gen:\n    run: node server.js\n    artifact: ${HELLO}\n    instances: 0\n` }));
for (const a of [["machines", "trust", "--yes"], ["setup"]]) {
  const r = await p.skiff(a);
  if (r.code !== 0) throw new Error(`${a.join(" ")}: ${r.stderr}`);
}

// ~110-byte lines, 1 ms apart, in 32 MB segments; every 100 000th line is an error.
const gen = `set -e
df -m --output=avail /var/lib/skiff | tail -1 | awk -v want=${SIZE_MB} '$1 < want + 150 { print "only " $1 " MB free on the disk"; exit 1 }'
rm -rf ${DIR} && mkdir -p ${DIR}
awk -v bytes=${SIZE_MB * 1024 * 1024} -v dir=${DIR} 'BEGIN {
  seq = 1; out = sprintf("%s/out-%08d.log", dir, seq); size = 0; total = 0
  for (i = 0; total < bytes; i++) {
    t = sprintf("2026-11-30T%02d:%02d:%02d.%03dZ", 1 + int(i / 3600000), int(i / 60000) % 60, int(i / 1000) % 60, i % 1000)
    if (i % 100000 == 99999) text = "ERROR payment failed order=" i " code=card_declined"
    else text = "GET /api/items/" (i % 1000) " 200 user=" (i % 97) " took=" (i % 50) "ms req=" i " ok"
    line = t "\\tout\\t1\\tskiff-logsbench-gen-1-abcdef\\t" text
    print line > out
    n = length(line) + 1; size += n; total += n
    if (size >= 33554432) { close(out); seq++; out = sprintf("%s/out-%08d.log", dir, seq); size = 0 }
  }
}'
du -sm ${DIR} | cut -f1`;
const t0 = performance.now();
const sizes = await Promise.all(bed.machines.map((m) => faults.exec(m, gen)));
console.log(`made ${sizes.map((s) => `${s.trim()} MB`).join(" + ")} on ${bed.machines.map((m) => m.name).join(", ")} in ${((performance.now() - t0) / 1000).toFixed(1)} s (on the machines)`);

function timed(cmd: string, args: string[]): Promise<{ ms: number; lines: number }> {
  const t = performance.now();
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    let lines = 0;
    let err = "";
    c.stdout.on("data", (b: Buffer) => {
      for (let i = b.indexOf(10); i >= 0; i = b.indexOf(10, i + 1)) lines++;
    });
    c.stderr.on("data", (b: Buffer) => (err += b));
    c.on("close", (code) => (code === 0 || (code === 1 && cmd === "ssh") ? resolve({ ms: performance.now() - t, lines }) : reject(new Error(`${cmd} exit ${code}: ${err}`))));
  });
}
const BIN = new URL("../bin/skiff.js", import.meta.url).pathname;
const skiffGrep = (re: string) => timed(process.execPath, [BIN, "-c", join(p.dir, "skiff.yml"), "logs", "gen", "--grep", re]);
// Both sides over warm shared connections (skiff keeps its own ControlMaster; grep gets one too), warmed first.
const sshOpts = ["-o", "BatchMode=yes", "-o", `UserKnownHostsFile=${p.dir}/.skiff/known_hosts`, "-o", "ControlMaster=auto", "-o", `ControlPath=${p.socketDir}/g-%C`, "-o", "ControlPersist=120", "-i", bed.identityFile];
const sshGrep = async (re: string) => {
  const t = performance.now();
  const each = await Promise.all(bed.machines.map((m) => timed("ssh", [...sshOpts, "-p", String(m.sshPort), "root@127.0.0.1", "grep", "-hE", `'${re}'`, `${DIR}/out-*.log`])));
  return { ms: performance.now() - t, lines: each.reduce((a, e) => a + e.lines, 0) };
};

await skiffGrep("warm-up");
await sshGrep("warm-up");
for (const [label, re] of [
  ["rare (1 line in 100 000)", "ERROR payment"],
  ["common (1 line in 97)", "user=13 "],
  ["rare, a regex (no fixed-string fast path)", "ERROR pay(ment|out) failed"],
] as const) {
  const a: number[] = [];
  const b: number[] = [];
  let counts = "";
  for (let i = 0; i < ROUNDS; i++) {
    const s = await skiffGrep(re);
    const g = await sshGrep(re);
    a.push(s.ms);
    b.push(g.ms);
    counts = `${s.lines} lines (skiff) vs ${g.lines} (grep)`;
    if (s.lines !== g.lines) throw new Error(`match counts differ: ${counts}`);
  }
  console.log(`--grep '${re}', ${label}: ${counts}`);
  console.log(`  skiff logs --grep (3 machines, merged): median ${(median(a) / 1000).toFixed(2)} s  [${a.map((x) => (x / 1000).toFixed(2)).join(", ")}]`);
  console.log(`  ssh m grep ×3 in parallel:              median ${(median(b) / 1000).toFixed(2)} s  [${b.map((x) => (x / 1000).toFixed(2)).join(", ")}]`);
  console.log(`  ratio skiff / grep: ${(median(a) / median(b)).toFixed(2)}`);
}

await Promise.all(bed.machines.map((m) => faults.exec(m, `rm -rf /var/lib/skiff/logs/logsbench`)));
