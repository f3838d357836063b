// The process runtime, end to end: on two bed machines over SSH, and on `local`
// (this machine, no SSH). The same scenario on both: deploy and redeploy under
// load, rollback, a crash and a memory-limit kill that the agent restarts and
// status shows, and a graceful stop that lets a slow request finish.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { startLoad, type LoadResult } from "../../src/load/load.ts";
import { bedConfig, faults, up, type Bed } from "../../testbed/bed.ts";
import { makeProject, type Project, type Run } from "./helpers.ts";

const HELLO_NODE = new URL("../../examples/hello-node", import.meta.url).pathname;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Target {
  /** The `machines:` block of skiff.yml. */
  machines: string;
  urls: string[];
  project: string;
  /** A shell command on each machine, for looking at what really runs. */
  exec: (i: number, cmd: string) => Promise<string>;
  /** A GET straight to an instance of the first machine (instances listen on its loopback): status 0 when the
   *  connection failed or closed without an answer. */
  get: (url: string) => Promise<{ status: number; body: string }>;
}

/** A GET from inside a machine with its curl: what an instance on the machine's loopback answers. */
async function curlOn(exec: (cmd: string) => Promise<string>, url: string): Promise<{ status: number; body: string }> {
  const out = await exec(`curl -s --max-time 30 -w '\\n%{http_code}' '${url}' || true`);
  const cut = out.lastIndexOf("\n");
  return { status: Number(out.slice(cut + 1)) || 0, body: cut < 0 ? "" : out.slice(0, cut) };
}

interface StatusInstance {
  name: string;
  release: number;
  running: boolean;
  healthy: boolean;
  restarts: number;
  lastExit?: { code: number | null; oomKilled: boolean; reason: string };
}
interface StatusMachine {
  machine: string;
  apps: { app: string; active: number; instances: StatusInstance[] }[];
}

const json = <T>(r: Run): T => JSON.parse(r.stdout) as T;

function config(t: Target, version: string, probation = "3s"): string {
  return `project: ${t.project}
${t.machines}
apps:
  web:
    run: node server.js
    artifact: ${HELLO_NODE}
    instances: ${2 * t.urls.length}
    env: { VERSION: ${version} }
    routes: [{ path: / }]
    resources: { memory: 96M }
    health: { interval: 200ms, deadline: 10s }
    deploy: { drain_timeout: 10s, stop_timeout: 10s, probation: ${probation} }
`;
}

/** The scenario, shared by the bed and the local machine. */
function scenario(name: string, target: () => Target, prepare: () => Promise<void>, cleanup: () => Promise<void>) {
  describe(name, { timeout: 600_000 }, () => {
    let p: Project;
    let t: Target;
    const write = (version: string, probation?: string) => writeFileSync(join(p.dir, "skiff.yml"), config(t, version, probation));
    const versions = () => Promise.all(t.urls.map(async (u) => (await (await fetch(u)).text()).split(" ")[2]!));
    const status = async () => json<StatusMachine[]>(await p.skiff(["--json", "status"]));
    const noFailures = (l: LoadResult) => assert.equal(l.failures, 0, `${l.failures} of ${l.requests} requests failed: ${JSON.stringify(l.samples.slice(0, 5))}`);
    async function underLoad(args: string[]): Promise<{ run: Run; load: LoadResult }> {
      const load = startLoad({ urls: t.urls, concurrency: 6 });
      await sleep(300);
      const run = await p.skiff(args);
      await sleep(800);
      return { run, load: await load.stop() };
    }
    /** The address of the first instance on the first machine (its loopback: call it with t.get). */
    async function instanceUrl(): Promise<string> {
      const i = (await status())[0]!.apps[0]!.instances[0]! as StatusInstance & { bindAddress?: string; hostPort: number };
      return `http://${i.bindAddress ?? "127.0.0.1"}:${i.hostPort}/`;
    }
    /** Waits until every instance on every machine runs healthy again. */
    async function allHealthy(what: (i: StatusInstance) => boolean): Promise<StatusInstance[]> {
      let last: StatusInstance[] = [];
      for (let i = 0; i < 100; i++) {
        last = (await status()).flatMap((m) => m.apps.flatMap((a) => a.instances));
        if (last.some(what) && last.every((x) => x.running && x.healthy)) return last;
        await sleep(200);
      }
      assert.fail(`instances did not come back healthy: ${JSON.stringify(last)}`);
    }

    before(async () => {
      await prepare();
      t = target();
      p = makeProject();
      write("v1");
      for (const args of [["machines", "trust", "--yes"], ["setup"]]) {
        const r = await p.skiff(args);
        assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
      }
    });
    after(cleanup);

    it("deploys as processes, redeploys and rolls back under load with no failed request", async () => {
      const d1 = await p.skiff(["deploy"]);
      assert.equal(d1.code, 0, d1.stderr);
      assert.match(d1.stderr, /ship artifact [0-9a-f]{12}/);
      assert.deepEqual(new Set(await versions()), new Set(["v1"]));
      const first = (await status())[0]!.apps[0]!.active;
      // Processes, as the app's own system user (skiff-<project>-<app>), with PORT and HOST from skiff; no container anywhere.
      for (let i = 0; i < t.urls.length; i++) {
        // Each wrapper leads its own session; count the node processes in this project's sessions.
        const ps = await t.exec(i, `for f in /var/lib/skiff/instances/skiff-${t.project}-web-*/pid; do s=$(cut -d' ' -f1 $f); ps -eo sid=,user:32=,comm= | awk -v s=$s '$1==s && $3=="node" {print $2}'; done | sort | uniq -c`);
        assert.match(ps, new RegExp(`^\\s*2 skiff_${t.project}_web$`), `machine ${i}: ${ps}`);
      }

      write("v2");
      const d2 = await underLoad(["deploy"]);
      assert.equal(d2.run.code, 0, d2.run.stderr);
      assert.doesNotMatch(d2.run.stderr, /ship artifact/, "the artifact is already on the machines");
      noFailures(d2.load);
      assert.deepEqual(new Set(await versions()), new Set(["v2"]));

      const rb = await underLoad(["rollback"]);
      assert.equal(rb.run.code, 0, rb.run.stderr);
      noFailures(rb.load);
      assert.deepEqual(new Set(await versions()), new Set(["v1"]));
      assert.equal((await status())[0]!.apps[0]!.active, first);
    });

    it("restarts a crashed instance, and shows it in status and history", async () => {
      const load = startLoad({ urls: t.urls, concurrency: 4 });
      // /crash exits the instance that answers it (code 3). Sent to one instance directly: through
      // HAProxy, a GET that kills its server is retried on the next one (and kills that too).
      await t.get(`${await instanceUrl()}crash`);
      const insts = await allHealthy((i) => i.restarts > 0 && i.lastExit?.code === 3);
      noFailures(await load.stop());
      const crashed = insts.find((i) => i.lastExit?.code === 3)!;
      assert.match(crashed.lastExit!.reason, /exited with code 3/);
      const hist = json<{ action: string; machines: Record<string, { reason?: string }> }[]>(await p.skiff(["--json", "history", "web"]));
      assert.ok(hist.some((h) => h.action === "restart" && Object.values(h.machines).some((m) => m.reason?.includes(crashed.name))), JSON.stringify(hist.slice(-3)));
    });

    it("kills an instance that goes over its memory limit; status says out of memory", async () => {
      const load = startLoad({ urls: t.urls, concurrency: 4 });
      const r = await t.get(`${await instanceUrl()}alloc?mb=200`);
      assert.ok(r.status === 0 || r.status >= 500, `the allocation must not succeed under a 96M limit: ${r.status}`);
      const insts = await allHealthy((i) => Boolean(i.lastExit?.oomKilled));
      noFailures(await load.stop());
      const killed = insts.find((i) => i.lastExit?.oomKilled)!;
      assert.equal(killed.lastExit!.code, 137);
      const text = (await p.skiff(["status"])).stdout;
      assert.match(text, /OOM killed/);
    });

    it("a graceful stop lets a request in flight finish on the old release", async () => {
      // A 6 s request straight to one instance (HAProxy's drain cannot see it), then a deploy: the old
      // instance gets SIGTERM about 1 s after the switch, while the request still runs.
      write("v3", "500ms");
      const d0 = await p.skiff(["deploy"]);
      assert.equal(d0.code, 0, d0.stderr);
      const inst = (await status())[0]!.apps[0]!.instances[0]!;
      const wrapper = (await t.exec(0, `cut -d' ' -f1 /var/lib/skiff/instances/${inst.name}/pid`)).trim();
      const started = Date.now();
      const slow = t.get(`${await instanceUrl()}slow?ms=6000`);
      await sleep(300);
      write("v4", "500ms");
      const d = await p.skiff(["deploy"]);
      assert.equal(d.code, 0, d.stderr);
      const got = await slow;
      assert.equal(got.status, 200);
      assert.equal(got.body, "slow 6000 ms from v3\n");
      assert.ok(Date.now() - started >= 6000);
      // The process went away on its own right after its last request: it had been told to stop.
      let alive = "";
      for (let i = 0; i < 30; i++) {
        alive = (await t.exec(0, `awk '{print $3}' /proc/${wrapper}/stat 2>/dev/null || true`)).trim();
        if (alive === "" || alive === "Z") break;
        await sleep(100);
      }
      assert.ok(alive === "" || alive === "Z", `the old instance still runs (state ${alive})`);
      assert.deepEqual(new Set(await versions()), new Set(["v4"]));
    });
  });
}

// ---- on two bed machines, over SSH ----
let bed: Bed;
scenario(
  "process runtime on bed machines (SSH)",
  () => ({
    project: "proc",
    machines: "machines:\n" + bed.machines.slice(0, 2).map((m) => `  ${m.name}: { host: 127.0.0.1, port: ${m.sshPort}, private_address: ${m.address}, ssh: { identity_file: ${bed.identityFile} } }`).join("\n"),
    urls: bed.machines.slice(0, 2).map((m) => `http://127.0.0.1:${m.httpPort}/`),
    exec: (i, cmd) => faults.exec(bed.machines[i]!, cmd),
    get: (url) => curlOn((cmd) => faults.exec(bed.machines[0]!, cmd), url),
  }),
  async () => {
    bed = await up({ count: 3, fresh: true, log: (s) => console.error(`bed: ${s}`) });
  },
  async () => {},
);

// ---- on this machine, without SSH ----
const LOCAL_PORT = 18089;
let agentWasHere = false;
scenario(
  "process runtime on the local machine (no SSH)",
  () => ({
    project: "proclocal",
    machines: `machines:\n  here: { host: local, http_port: ${LOCAL_PORT} }`,
    urls: [`http://127.0.0.1:${LOCAL_PORT}/`],
    exec: async (_i, cmd) => execFileSync("sh", ["-c", cmd], { encoding: "utf8" }).trim(),
    get: (url) => fetch(url).then(async (r) => ({ status: r.status, body: await r.text() }), () => ({ status: 0, body: "" })),
  }),
  async () => {
    agentWasHere = existsSync("/usr/local/bin/skiff-agent");
  },
  async () => {
    // Leave this machine as it was: the app goes; the agent too when this suite installed it.
    try {
      execFileSync("/usr/local/bin/skiff-agent", ["call", "app.remove", JSON.stringify({ project: "proclocal", app: "web" })]);
    } catch {}
    if (!agentWasHere) {
      const { removeAgent } = await import("../../src/exec/remote-steps.ts");
      execFileSync(removeAgent().argv[0]!, removeAgent().argv.slice(1));
    }
  },
);

// ---- a built artifact on bed machines: built once, shared by releases, only where the app runs ----
describe("process artifact with a build command (bed, SSH)", { timeout: 600_000 }, () => {
  let shareBed: Bed;
  let p: Project;
  let counter: string;
  const STATE = "/var/lib/skiff";
  const SHARE_PORT = 8097;
  const builds = () => (existsSync(counter) ? readFileSync(counter, "utf8").split("\n").filter(Boolean).length : 0);
  // Like `npm ci`: many small files and some bytes, made from the lockfile; each run is counted outside the project.
  const build = () => `echo run >> ${counter} && rm -rf app/node_modules && mkdir app/node_modules && for i in $(seq 1 300); do echo "module $i" > app/node_modules/m$i.js; done && head -c 4000000 /dev/zero > app/node_modules/big.bin && cp app/package-lock.json app/node_modules/`;
  const write = (version: string) =>
    writeFileSync(
      join(p.dir, "skiff.yml"),
      bedConfig(shareBed, {
        project: "procshare",
        // Its own public port (other suites use 8090-8096): another project's app left on the shared bed may hold / on 80.
        httpPort: SHARE_PORT,
        // The machines have no nodejs package (setup ships the agent's own Node, 0755): the app runs on that one.
        extra: `apps:
  web:
    run: /var/lib/skiff/node/bin/node server.js
    artifact: { dir: app, build: ${JSON.stringify(build())} }
    machines: [${shareBed.machines[0]!.name}, ${shareBed.machines[1]!.name}]
    env: { VERSION: ${version} }
    files: { conf/version.txt: { source: version.tmpl, template: true } }
    routes: [{ path: / }]
    health: { interval: 200ms, deadline: 10s }
    deploy: { drain_timeout: 1s, probation: 500ms }
`,
      }),
    );
  const on = (i: number, cmd: string) => faults.exec(shareBed.machines[i]!, cmd);
  /** The artifact of this app's releases, as the first machine stored them. */
  const artifactHash = async () => {
    const ids = await on(0, `cat ${STATE}/apps/procshare/web/releases/*.json | grep -o '"artifact:[0-9a-f]*"' | sort -u`);
    const hashes = ids.split("\n").filter(Boolean).map((l) => l.slice('"artifact:'.length, -1));
    assert.equal(hashes.length, 1, `one artifact for every release: ${ids}`);
    return hashes[0]!;
  };
  const deploy = async () => {
    const r = await p.skiff(["deploy"]);
    assert.equal(r.code, 0, r.stderr);
    return r;
  };

  before(async () => {
    shareBed = await up({ count: 3, log: (s) => console.error(`bed: ${s}`) });
    p = makeProject();
    counter = join(p.socketDir, "builds");
    mkdirSync(join(p.dir, "app"));
    cpSync(HELLO_NODE, join(p.dir, "app"), { recursive: true });
    writeFileSync(join(p.dir, "app", "package-lock.json"), '{"lockfileVersion":3}\n');
    writeFileSync(join(p.dir, "version.tmpl"), "version=${VERSION}\n");
    write("v1");
    for (const args of [["machines", "trust", "--yes"], ["setup"]]) {
      const r = await p.skiff(args);
      assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
    }
  });

  it("builds once: a config-only change and a redeploy skip the build and ship nothing", async () => {
    const d1 = await deploy();
    assert.equal(builds(), 1);
    assert.match(d1.stderr, /ship artifact [0-9a-f]{12}/);
    write("v2");
    const d2 = await deploy();
    assert.equal(builds(), 1, `a config-only change ran the build again:\n${d2.stderr}`);
    assert.match(d2.stderr, /build web: skipped \(inputs unchanged/);
    assert.doesNotMatch(d2.stderr, /ship artifact/);
    const d3 = await deploy();
    assert.equal(builds(), 1, "a redeploy ran the build again");
    assert.doesNotMatch(d3.stderr, /ship artifact/);
    const served = await (await fetch(`http://${shareBed.machines[0]!.address}:${SHARE_PORT}/file?path=conf/version.txt`)).text();
    assert.equal(served, "version=v2\n");
  });

  it("two releases of the artifact share its files; each has its own templated file", async () => {
    const work = `${STATE}/work/procshare/web`;
    const releases = (await on(0, `ls ${work} | sort -n`)).split("\n").filter(Boolean);
    assert.ok(releases.length >= 2, `releases on the machine: ${releases.join(" ")}`);
    const [a, b] = releases.slice(-2).map((r) => `${work}/${r}`);
    const artifact = `${STATE}/artifacts/${await artifactHash()}`;
    const inode = async (f: string) => (await on(0, `stat -c %i ${f}`)).trim();
    for (const f of ["server.js", "node_modules/big.bin", "node_modules/m7.js"]) {
      assert.equal(await inode(`${a}/${f}`), await inode(`${artifact}/${f}`), `${f} of the older release is the artifact's`);
      assert.equal(await inode(`${b}/${f}`), await inode(`${artifact}/${f}`), `${f} of the newer release is the artifact's`);
    }
    assert.notEqual(await inode(`${a}/conf/version.txt`), await inode(`${b}/conf/version.txt`));
    assert.equal((await on(0, `stat -c '%a %U' ${b}/conf/version.txt`)).trim(), "600 skiff_procshare_web");
    // du counts a hard-linked file once: what each release adds beyond the artifact.
    const bytes = async (...dirs: string[]) => Number((await on(0, `du -s -B1 -c ${dirs.join(" ")} | tail -1`)).split("\t")[0]);
    const inodes = async (...dirs: string[]) => Number((await on(0, `du -s --inodes -c ${dirs.join(" ")} | tail -1`)).split("\t")[0]);
    const art = { bytes: await bytes(artifact), inodes: await inodes(artifact) };
    const perRelease = { bytes: (await bytes(artifact, a!, b!)) - art.bytes, inodes: (await inodes(artifact, a!, b!)) - art.inodes };
    console.log(`disk: artifact ${art.bytes} bytes, ${art.inodes} inodes; two releases beyond it: ${perRelease.bytes} bytes, ${perRelease.inodes} inodes (a copy each would be ${2 * art.bytes} bytes, ${2 * art.inodes} inodes)`);
    assert.ok(perRelease.bytes < art.bytes / 4, `releases add ${perRelease.bytes} bytes to an artifact of ${art.bytes}`);
  });

  it("a machine the app is not placed on receives no artifact", async () => {
    const hash = await artifactHash();
    const where = await Promise.all([0, 1, 2].map(async (i) => (await on(i, `test -d ${STATE}/artifacts/${hash} && echo yes || echo no`)).trim()));
    assert.deepEqual(where, ["yes", "yes", "no"]);
  });
});
