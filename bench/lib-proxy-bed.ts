// What bench/proxy, bench/proxy-tuning and bench/logs-proxy-cost share: the Node app (process runtime, one instance) deployed on one
// bed machine, and the two URLs wrk compares over the bed network (the machine's own IP, not the loopback port
// mapping, which would add docker-proxy to one side only): the instance itself and the machine's HAProxy.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { bedConfig, faults, up, type BedMachine } from "../testbed/bed.ts";
import { NODE_BIN } from "../src/contracts/paths.ts";
import { makeProject, type Project } from "../test/e2e/helpers.ts";

/** The app's command: the machine's own node if it has one, else the Node that setup ships for the agent (setup
 *  no longer installs Debian's nodejs, so a fresh bed machine has no `node` on PATH). Instances listen on the
 *  machine's loopback (other machines reach them through the mesh), which this host cannot reach: this one listens
 *  on every address (HOST), so wrk reaches it directly over the bed network, the way it reaches HAProxy; HAProxy
 *  still connects to it on loopback. */
const RUN_NODE = `'HOST=0.0.0.0 exec "$(command -v node || echo ${NODE_BIN})" server.js'`;
const HELLO_NODE_DIR = new URL("../examples/hello-node", import.meta.url).pathname;

export interface ProxyBench {
  m: BedMachine;
  p: Project;
  direct: string;
  proxied: string;
  /** haproxy.cfg as the agent wrote it after the deploy. */
  cfg: string;
  /** Removes the app (unless KEEP=1). */
  done(): Promise<void>;
}

/** `httpPort`: a port of its own, as another suite's app left on the shared bed may route / on :80 already. */
export async function deployProxyBench(httpPort: number): Promise<ProxyBench> {
  const bed = await up({ count: 1 });
  const m = bed.machines[0]!;
  const p = makeProject(bed);
  writeFileSync(
    join(p.dir, "skiff.yml"),
    bedConfig(bed, {
      project: "benchproxy",
      httpPort,
      extra: `apps:\n  web:\n    run: ${RUN_NODE}\n    artifact: ${HELLO_NODE_DIR}\n    instances: 1\n    health: { path: /healthz, interval: 1s }\n    routes: [{ path: / }]\n`,
    }),
  );
  for (const args of [["machines", "trust", "--yes"], ["setup"], ["deploy"]]) {
    const r = await p.skiff(args);
    if (r.code !== 0) throw new Error(`skiff ${args.join(" ")}: exit ${r.code}\n${r.stderr}`);
  }
  // The instance's port as HAProxy has it: the one enabled, non-backup server of this app's backend.
  const cfg = await faults.exec(m, "cat /var/lib/skiff/proxy/haproxy.cfg");
  const backend = cfg.slice(cfg.indexOf("\nbackend skiff_benchproxy_web"));
  const server = /\n {2}server \S+ (\S+):(\d+) check(?![^\n]*(?:disabled|backup))/.exec(backend);
  if (!server) throw new Error(`no enabled server for skiff_benchproxy_web in haproxy.cfg:\n${cfg}`);
  // skiff's firewall lets only the project's machines reach instance ports: this host (the bed network's gateway)
  // joins them for the bench, and leaves in done().
  const host = (await faults.exec(m, "ip -4 route show default | cut -d' ' -f3")).trim();
  if (!/^\d+\.\d+\.\d+\.\d+$/.test(host)) throw new Error(`no default gateway on ${m.name}: "${host}"`);
  await faults.exec(m, `nft add element inet skiff peers4 { ${host} }`);
  return {
    m,
    p,
    direct: `http://${m.address}:${server[2]}/`,
    proxied: `http://${m.address}:${httpPort}/`,
    cfg,
    // KEEP=1 leaves the app deployed (to try HAProxy settings against it by hand afterwards).
    async done() {
      if (process.env.KEEP === "1") return;
      await faults.exec(m, `nft delete element inet skiff peers4 { ${host} } || true`);
      const r = await p.skiff(["remove", "web", "--yes"]);
      if (r.code !== 0) console.error(`cleanup: skiff remove web failed: ${r.stderr}`);
    },
  };
}

/** HAProxy's CPU time (all threads) in ms, from /proc: utime + stime. */
export async function haproxyCpuMs(m: BedMachine): Promise<number> {
  const stat = await faults.exec(m, "cat /proc/$(cat /run/skiff/haproxy.pid | head -1)/stat");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // fields 14 and 15 of stat, at 100 ticks a second
}
