// bench/footprint-flags: the same machine and apps as bench/footprint, the
// agent run with each set of Node flags in turn (the NODE_FLAGS line of the
// agent command, rewritten on the machine): a deploy of a new release (timed,
// so a flag that saves memory but slows deploys shows), then RSS right after
// and after IDLE seconds, and the agent's CPU over the idle time. Figures, not
// assertions. `skiff setup` at the end puts the installed agent command back.
import { faults, up } from "../testbed/bed.ts";
import { makeProject } from "../test/e2e/helpers.ts";
import { agentFacts, configure, isAgent, mb, probe, skiff, sum } from "./lib-footprint.ts";

const IDLE_S = Number(process.env.IDLE ?? 60);
const VARIANTS = (process.env.VARIANTS ?? ["", "--max-semi-space-size=1", "--max-semi-space-size=1 --max-old-space-size=64", "--jitless", "--max-semi-space-size=1 --jitless", "--optimize-for-size --max-semi-space-size=1"].join(",")).split(",");

const bed = await up({ count: 1 });
const m = bed.machines[0]!;
const p = makeProject(bed);
configure(bed, p);
for (const args of [["machines", "trust", "--yes"], ["setup"], ["deploy"]]) await skiff(p, args);
const facts = await agentFacts(m);

console.log(`bench/footprint-flags — 1 machine, 2 process apps, ${facts.instances} instances; agent ${facts.version} on Node ${facts.node}; ${IDLE_S} s idle`);
console.log(`  ${"flags".padEnd(46)} ${"deploy".padStart(7)}  ${"agent RSS after deploy".padEnd(22)} ${"after idle (anon + file)".padEnd(30)} CPU idle`);
let round = 0;
for (const variant of VARIANTS) {
  if (/["\\$`|&;]/.test(variant)) throw new Error(`flags must be plain words: ${variant}`);
  // NAME=value words are the agent's environment (exported by its command, after the flags line); the rest are flags.
  const words = variant.split(/\s+/).filter(Boolean);
  const env = words.filter((w) => /^[A-Z_][A-Z0-9_]*=\S+$/.test(w));
  const flags = words.filter((w) => !env.includes(w)).join(" ");
  const exports = env.map((e) => `\\nexport ${e}`).join("");
  await faults.exec(m, `sed -i '/^export [A-Z_]*=/d; s|^NODE_FLAGS=.*|NODE_FLAGS="${flags}"${exports}|' /usr/local/bin/skiff-agent && grep -q '^NODE_FLAGS="${flags}"' /usr/local/bin/skiff-agent && /etc/init.d/skiff-agent restart >/dev/null`);
  configure(bed, p, `v${round++}`);
  const d0 = performance.now();
  await skiff(p, ["deploy"]);
  const deploy = (performance.now() - d0) / 1000;
  const t0 = performance.now();
  const first = await probe(m);
  await new Promise((r) => setTimeout(r, IDLE_S * 1000 - (performance.now() - t0)));
  const last = await probe(m);
  const seconds = (performance.now() - t0) / 1000;
  const [a, b] = [sum(first.procs, isAgent), sum(last.procs, isAgent)];
  const cpu = (b.ticks - a.ticks) / last.tck / seconds;
  const args = last.procs.find((x) => x.role === "agent")?.args ?? "";
  if (!args.includes(flags)) throw new Error(`the agent runs without ${flags}: ${args}`);
  const environ = env.length ? (await faults.exec(m, `tr '\\0' '\\n' < /proc/$(head -1 /run/skiff/agent.pid)/environ | grep -E '^(${env.map((e) => e.split("=")[0]).join("|")})=' || true`)).trim().split("\n").join(" ") : "";
  if (env.length && environ.split(" ").sort().join(" ") !== [...env].sort().join(" ")) throw new Error(`the agent runs without ${env.join(" ")}: ${environ}`);
  console.log(`  ${(variant || "(none)").padEnd(46)} ${deploy.toFixed(2).padStart(5)} s  ${mb(a.rssKb).padEnd(22)} ${`${mb(b.rssKb)} (${mb(b.anonKb)} + ${mb(b.fileKb)})`.padEnd(30)} ${(cpu * 100).toFixed(2)} %`);
}
await skiff(p, ["setup"]);
