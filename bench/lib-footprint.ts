// What bench/footprint and bench/footprint-flags share: a probe of the agent's
// processes and HAProxy's on a bed machine (from /proc alone), and the project
// they deploy: two process apps (examples/hello-node), 4 instances in all.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { bedConfig, faults, type Bed, type BedMachine } from "../testbed/bed.ts";
import type { Project } from "../test/e2e/helpers.ts";
import { NODE_BIN } from "../src/contracts/paths.ts";

const HELLO_NODE = new URL("../examples/hello-node", import.meta.url).pathname;
/** The apps' command: the machine's own node if it has one, else the Node setup ships for the agent (fresh bed
 *  machines have no nodejs package). */
const RUN_NODE = `'exec "$(command -v node || echo ${NODE_BIN})" server.js'`;
/** A port of its own: another suite's app left on the shared bed may route / on :80 already. */
// Outside the e2e tests' ports (8090–8113): a bench stopped half way leaves its apps on the bed, and a test on the same port would fail.
const HTTP_PORT = Number(process.env.HTTP_PORT ?? 8120);

export interface Proc {
  role: string;
  pid: number;
  rssKb: number;
  anonKb: number;
  fileKb: number;
  pssKb: number;
  ticks: number;
  args: string;
}

// Runs on the machine: one line per process of interest, from /proc alone.
const PROBE = String.raw`
row() {
  [ -n "$2" ] && [ -r /proc/$2/status ] || return 0
  set -- "$1" "$2" "$(awk '/^VmRSS/{r=$2} /^RssAnon/{a=$2} /^RssFile/{f=$2} END{print r+0, a+0, f+0}' /proc/$2/status)" \
    "$(awk '/^Pss:/{print $2}' /proc/$2/smaps_rollup 2>/dev/null || echo 0)" "$(awk '{print $14 + $15}' /proc/$2/stat)" \
    "$(tr '\0' ' ' </proc/$2/cmdline | cut -c1-300)"
  echo "$1 $2 $3 \${4:-0} $5 $6"
}
sup=$(cat /run/skiff/agent-supervisor.pid 2>/dev/null); agent=$(cat /run/skiff/agent.pid 2>/dev/null)
row supervisor "$sup"; row agent "$agent"
for d in /proc/[0-9]*; do
  p=\${d#/proc/}; [ "$p" = "$sup" ] || [ "$p" = "$agent" ] && continue
  if [ "$(cat $d/comm 2>/dev/null)" = haproxy ]; then row haproxy "$p"
  elif tr '\0' ' ' 2>/dev/null <$d/cmdline | grep -q 'skiff-agent\.cjs'; then row agent-other "$p"; fi
done
echo "tck $(getconf CLK_TCK)"
`.replaceAll("\\$", "$");

export async function probe(m: BedMachine): Promise<{ procs: Proc[]; tck: number }> {
  const out = await faults.exec(m, PROBE);
  let tck = 100;
  const procs: Proc[] = [];
  for (const line of out.trim().split("\n")) {
    const f = line.split(" ");
    if (f[0] === "tck") tck = Number(f[1]);
    else procs.push({ role: f[0]!, pid: Number(f[1]), rssKb: Number(f[2]), anonKb: Number(f[3]), fileKb: Number(f[4]), pssKb: Number(f[5]), ticks: Number(f[6]), args: f.slice(7).join(" ") });
  }
  return { procs, tck };
}

export interface Totals {
  rssKb: number;
  anonKb: number;
  fileKb: number;
  pssKb: number;
  ticks: number;
}

export const isAgent = (x: Proc) => x.role === "supervisor" || x.role === "agent";

export function sum(procs: Proc[], pick: (x: Proc) => boolean): Totals {
  const s = procs.filter(pick);
  const add = (k: keyof Totals) => s.reduce((n, x) => n + x[k], 0);
  return { rssKb: add("rssKb"), anonKb: add("anonKb"), fileKb: add("fileKb"), pssKb: add("pssKb"), ticks: add("ticks") };
}

export const mb = (kb: number) => `${(kb / 1024).toFixed(1)} MB`;

/** Writes the two apps' skiff.yml; `mark` changes their env, so each value is a new release. */
export function configure(bed: Bed, p: Project, mark = "a"): void {
  const app = (name: string, path: string) => `  ${name}:
    run: ${RUN_NODE}
    artifact: ${HELLO_NODE}
    instances: 2
    env: { MARK: ${mark} }
    routes: [{ path: ${path} }]
    health: { interval: 1s, deadline: 20s }
`;
  writeFileSync(join(p.dir, "skiff.yml"), bedConfig(bed, { project: "footprint", httpPort: HTTP_PORT, extra: `apps:\n${app("web", "/")}${app("api", "/api")}` }));
}

export async function skiff(p: Project, args: string[]): Promise<void> {
  const r = await p.skiff(args);
  if (r.code !== 0) throw new Error(`skiff ${args.join(" ")} failed:\n${r.stdout}\n${r.stderr}`);
}

/** The agent's version and Node, and how many instances it runs. */
export async function agentFacts(m: BedMachine): Promise<{ version: string; node: string; instances: number }> {
  const v = JSON.parse(await faults.exec(m, "/usr/local/bin/skiff-agent call version")) as { node: string; version: string };
  const instances = Number(await faults.exec(m, "/usr/local/bin/skiff-agent call state | grep -o '\"running\":true' | wc -l"));
  return { ...v, instances };
}
