// Scaling and placement on 3 bed machines with labels: instances in all, spread
// or binpacked over eligible machines, a machine without instances still serving
// the app through its HAProxy (peers on the private network), `skiff scale`
// recorded as a release, and a placement that does not fit refused before
// anything changes. The Node example app as processes, on its own port 8091.
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { get } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { startLoad, type LoadResult } from "../../src/load/load.ts";
import { faults, up, type Bed } from "../../testbed/bed.ts";
import { makeProject, type Project, type Run } from "./helpers.ts";

const HELLO_NODE = new URL("../../examples/hello-node", import.meta.url).pathname;
const PORT = 8091;
const LABELS: Record<string, string[]> = { m1: ["web"], m2: ["web", "big"], m3: ["big"] };

let bed: Bed;
let p: Project;

interface Opts {
  version: string;
  instances?: number;
  labels?: string[];
  strategy?: string;
  memory?: string;
  /** The artifact directory (default: examples/hello-node). */
  artifact?: string;
}

function configure(o: Opts): void {
  const machines = bed.machines.map((m) => `  ${m.name}: { host: 127.0.0.1, port: ${m.sshPort}, private_address: ${m.address}, http_port: ${PORT}, labels: [${LABELS[m.name]!.join(", ")}], ssh: { identity_file: ${bed.identityFile} } }`).join("\n");
  writeFileSync(
    join(p.dir, "skiff.yml"),
    `project: place
machines:
${machines}
apps:
  web:
    run: node server.js
    artifact: ${o.artifact ?? HELLO_NODE}
${o.instances !== undefined ? `    instances: ${o.instances}\n` : ""}${o.labels ? `    labels: [${o.labels.join(", ")}]\n` : ""}${o.strategy ? `    strategy: ${o.strategy}\n` : ""}${o.memory ? `    resources: { memory: ${o.memory} }\n` : ""}    env: { VERSION: ${o.version} }
    routes: [{ path: / }]
    health: { interval: 200ms, deadline: 5s }
    deploy: { drain_timeout: 3s, stop_timeout: 3s, probation: 3s }
`,
  );
}

const urls = () => bed.machines.map((m) => `http://${m.address}:${PORT}/`);
const onBed = (host: string) => bed.machines.some((m) => m.address === host);
const json = <T>(r: Run): T => JSON.parse(r.stdout) as T;
type Status = { machine: string; apps: { app: string; active: number; instances: { running: boolean; healthy: boolean }[] }[] }[];

async function counts(): Promise<Record<string, number>> {
  const s = json<Status>(await p.skiff(["--json", "status"]));
  return Object.fromEntries(s.map((m) => [m.machine, m.apps.find((a) => a.app === "web")?.instances.filter((i) => i.running && i.healthy).length ?? 0]));
}
const actives = async () => json<Status>(await p.skiff(["--json", "status"])).map((m) => m.apps.find((a) => a.app === "web")?.active);
const versions = () => Promise.all(urls().map(async (u) => (await (await fetch(u)).text()).split(" ")[2]!));

async function underLoad(args: string[]): Promise<{ run: Run; load: LoadResult }> {
  const load = startLoad({ urls: urls(), concurrency: 6, alsoAllow: onBed });
  await new Promise((r) => setTimeout(r, 300));
  const run = await p.skiff(args);
  await new Promise((r) => setTimeout(r, 800));
  return { run, load: await load.stop() };
}
const noFailures = (l: LoadResult) => assert.equal(l.failures, 0, `${l.failures} of ${l.requests} failed: ${JSON.stringify(l.samples.slice(0, 5))}`);

describe("scaling and placement on 3 machines", { timeout: 900_000 }, () => {
  before(async () => {
    bed = await up({ count: 3, log: (s) => console.error(`bed: ${s}`) });
    p = makeProject();
    configure({ version: "v1", instances: 2 });
    for (const args of [["machines", "trust", "--yes"], ["setup"]]) {
      const r = await p.skiff(args);
      assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
    }
    await p.skiff(["remove", "web", "--yes"]); // the bed is shared: start from nothing
  });

  it("instances are spread; a machine without any still serves the app; a redeploy under load fails no request", async () => {
    const d = await p.skiff(["deploy"]);
    assert.equal(d.code, 0, d.stderr);
    assert.deepEqual(await counts(), { m1: 1, m2: 1, m3: 0 });
    assert.deepEqual(await versions(), ["v1", "v1", "v1"], "m3 answers through its peers");
    configure({ version: "v2", instances: 2 });
    const { run, load } = await underLoad(["deploy"]);
    assert.equal(run.code, 0, run.stderr);
    noFailures(load);
    assert.deepEqual(await counts(), { m1: 1, m2: 1, m3: 0 }, "the placement is kept");
    assert.deepEqual(await versions(), ["v2", "v2", "v2"]);
  });

  it("skiff scale is a release of its own, placed over the machines, and rollback undoes it", async () => {
    const before = (await actives())[0]!;
    const { run, load } = await underLoad(["scale", "web=5"]);
    assert.equal(run.code, 0, run.stderr);
    noFailures(load);
    assert.match(run.stdout, /web: 2 → 5 instances \(m1: 2, m2: 2, m3: 1\), release \d+/);
    assert.deepEqual(await counts(), { m1: 2, m2: 2, m3: 1 });
    assert.deepEqual(await actives(), [before + 1, before + 1, before + 1]);
    assert.deepEqual(await versions(), ["v2", "v2", "v2"], "scaling changes no code or config");
    const hist = json<{ action: string; release: number }[]>(await p.skiff(["--json", "history", "web"]));
    assert.equal(hist.at(-1)!.action, "scale");
    const rb = await p.skiff(["rollback"]);
    assert.equal(rb.code, 0, rb.stderr);
    assert.deepEqual(await counts(), { m1: 1, m2: 1, m3: 0 });
  });

  it("skiff scale from a computer without the artifact relays it from a machine that has it", async () => {
    // m3 never had it (a machine new to the app), and this computer has a different checkout of the artifact
    // directory and no packed artifacts: only m1 and m2 hold what release N runs.
    const hash = (await faults.exec(bed.machines[0]!, "ls /var/lib/skiff/artifacts")).split("\n").filter((l) => /^[0-9a-f]{64}$/.test(l));
    await faults.exec(bed.machines[2]!, "rm -rf /var/lib/skiff/artifacts/[0-9a-f]*");
    const other = mkdtempSync(join(tmpdir(), "skiff-relay-"));
    cpSync(HELLO_NODE, other, { recursive: true });
    writeFileSync(join(other, "NOTES.txt"), "not deployed yet\n");
    configure({ version: "v2", instances: 2, artifact: other });
    rmSync(join(p.dir, ".skiff", "cache"), { recursive: true, force: true });
    try {
      const { run, load } = await underLoad(["scale", "web=5"]);
      assert.equal(run.code, 0, run.stderr);
      noFailures(load);
      assert.match(run.stdout + run.stderr, /web: the artifact of release \d+ is not on this computer; relaying it from m[12]/);
      assert.deepEqual(await counts(), { m1: 2, m2: 2, m3: 1 });
      assert.deepEqual(await versions(), ["v2", "v2", "v2"]);
      const landed = (await faults.exec(bed.machines[2]!, "ls /var/lib/skiff/artifacts")).split("\n");
      assert.ok(hash.some((h) => landed.includes(h)), `m3 holds one of m1's artifacts (${hash.join(", ")}); has ${landed.join(", ")}`);
    } finally {
      configure({ version: "v2", instances: 2 });
      rmSync(other, { recursive: true, force: true });
    }
    const rb = await p.skiff(["rollback"]);
    assert.equal(rb.code, 0, rb.stderr);
    assert.deepEqual(await counts(), { m1: 1, m2: 1, m3: 0 });
  });

  it("labels choose the machines; the others serve through their peers", async () => {
    configure({ version: "v3", instances: 2, labels: ["big"] });
    const { run, load } = await underLoad(["deploy"]);
    assert.equal(run.code, 0, run.stderr);
    noFailures(load);
    assert.deepEqual(await counts(), { m1: 0, m2: 1, m3: 1 });
    assert.deepEqual(await versions(), ["v3", "v3", "v3"]);
  });

  it("binpack fills one machine first", async () => {
    configure({ version: "v4", instances: 3, strategy: "binpack", memory: "128M" });
    const d = await p.skiff(["deploy"]);
    assert.equal(d.code, 0, d.stderr);
    const c = await counts();
    assert.deepEqual(Object.values(c).sort(), [0, 0, 3], JSON.stringify(c));
    assert.deepEqual(await versions(), ["v4", "v4", "v4"]);
  });

  it("skiff.config.ts: a custom placement function decides, and is held to the same rules", async () => {
    const ts = (place: string) => {
      const machines = bed.machines.map((m) => `    ${m.name}: { host: "127.0.0.1", port: ${m.sshPort}, private_address: "${m.address}", http_port: ${PORT}, labels: ${JSON.stringify(LABELS[m.name])}, ssh: { identity_file: "${bed.identityFile}" } },`).join("\n");
      writeFileSync(
        join(p.dir, "skiff.config.ts"),
        `import { defineConfig } from "skiff";
export default defineConfig({
  project: "place",
  machines: {
${machines}
  },
  apps: {
    web: {
      run: "node server.js",
      artifact: "${HELLO_NODE}",
      instances: 3,
      env: { VERSION: "t1" },
      routes: [{ path: "/" }],
      health: { interval: "200ms", deadline: "5s" },
      deploy: { drain_timeout: "3s", stop_timeout: "3s", probation: "3s" },
      place: ${place},
    },
  },
});
`,
      );
    };
    const yml = join(p.dir, "skiff.yml");
    const saved = readFileSync(yml, "utf8");
    rmSync(yml);
    try {
      // Everything on the last eligible machine, whatever the built-in strategies would do.
      ts("({ machines, instances }) => ({ [machines[machines.length - 1]!.name]: instances })");
      const d = await p.skiff(["deploy"]);
      assert.equal(d.code, 0, d.stderr);
      assert.deepEqual(await counts(), { m1: 0, m2: 0, m3: 3 });
      assert.deepEqual(await versions(), ["t1", "t1", "t1"]);
      const before = await actives();
      ts('() => ({ m1: 2, nowhere: 1 })');
      const bad = await p.skiff(["deploy"]);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /cannot place web: the placement function put instances on nowhere, which is not eligible \(eligible: m1, m2, m3\); nothing was changed/);
      assert.deepEqual(await actives(), before);
    } finally {
      rmSync(join(p.dir, "skiff.config.ts"), { force: true });
      writeFileSync(yml, saved);
    }
  });

  it("two projects cannot take the same route on one machine; a failed first deploy leaves no machine half-deployed", async () => {
    const PORT2 = 8092;
    const machineLine = (m: Bed["machines"][number]) => `  ${m.name}: { host: 127.0.0.1, port: ${m.sshPort}, private_address: ${m.address}, http_port: ${PORT2}, ssh: { identity_file: ${bed.identityFile} } }`;
    const appYaml = (v: string) => `apps:\n  web:\n    run: node server.js\n    artifact: ${HELLO_NODE}\n    env: { VERSION: ${v} }\n    routes: [{ path: / }]\n    health: { interval: 200ms, deadline: 5s }\n`;
    const other = makeProject();
    writeFileSync(join(other.dir, "skiff.yml"), `project: other\nmachines:\n${machineLine(bed.machines[1]!)}\n${appYaml("o1")}`);
    const third = makeProject();
    writeFileSync(join(third.dir, "skiff.yml"), `project: third\nmachines:\n${bed.machines.map(machineLine).join("\n")}\n${appYaml("t1")}`);
    try {
      for (const x of [other, third]) assert.equal((await x.skiff(["machines", "trust", "--yes"])).code, 0);
      await third.skiff(["remove", "web", "--yes"]);
      const o = await other.skiff(["deploy"]);
      assert.equal(o.code, 0, o.stderr);
      const t = await third.skiff(["deploy"]);
      assert.equal(t.code, 1);
      assert.match(t.stderr, /route \*\/ on port 8092 is already served by other_web on this machine/);
      assert.match(t.stderr, /m1: back to running nothing \(it was the app's first release there\)/);
      // Waves (the default: m1 alone, then m2 and m3 together): m3 switched beside the failing m2, and went back too.
      assert.match(t.stderr, /m3: back to running nothing \(it was the app's first release there\)/);
      // m1 had switched and was undone; m2 refused (a revert undoes only a machine's own switch: there was none);
      // m3 was never reached. None runs or serves it (the stored spec stays, like any failed release).
      const st = json<Status>(await third.skiff(["--json", "status"]));
      assert.deepEqual(st.map((m) => m.apps.map((a) => [a.active, a.instances.length])), [[], [[null, 0]], []], JSON.stringify(st));
      assert.equal(await (await fetch(`http://${bed.machines[1]!.address}:${PORT2}/version`)).text(), "o1\n", "the other project still serves");
    } finally {
      await other.skiff(["remove", "web", "--yes"]);
      await third.skiff(["remove", "web", "--yes"]);
    }
  });

  it("a placement that does not fit is refused before anything changes, saying what is short where", async () => {
    const before = await actives();
    const servedBefore = await versions();
    configure({ version: "v5", instances: 2, memory: "4000G" });
    const plan = await p.skiff(["plan"]);
    assert.equal(plan.code, 1);
    const d = await p.skiff(["deploy"]);
    assert.equal(d.code, 1);
    assert.match(d.stderr, /cannot place web: web needs 2 instances of 4096000 MiB; only 0 fit: m1 \(memory: \d+ MiB free, 4096000 MiB needed\), m2 \(memory: \d+ MiB free, 4096000 MiB needed\), m3 \(memory: \d+ MiB free, 4096000 MiB needed\); nothing was changed/);
    assert.doesNotMatch(d.stderr, /ship|activate/);
    assert.deepEqual(await actives(), before);
    assert.deepEqual(await versions(), servedBefore);
  });

  it("a first deploy onto one machine: the machines placed without instances serve it through their peers at once", async () => {
    // Their agents have no backend for the app until they activate it: told the peers before that, they ignored
    // them, and the last update of the rollout once skipped them as already told (they answered 503).
    await p.skiff(["remove", "web", "--yes"]);
    configure({ version: "v9", instances: 1, labels: ["web"], strategy: "binpack" });
    const d = await p.skiff(["deploy"]);
    assert.equal(d.code, 0, d.stderr);
    const c = await counts();
    assert.equal(Object.values(c).reduce((a, b) => a + b, 0), 1, JSON.stringify(c));
    // New connections: fetch's pool may hold one to the HAProxy that the removal of the machine's last app
    // soft-stopped, which answers 503 until it closes.
    const fresh = (u: string) =>
      new Promise<string>((resolve, reject) => get(u, { agent: false }, (r) => { let b = ""; r.on("data", (x) => (b += x)); r.on("end", () => resolve(b.split(" ")[2]!)); }).on("error", reject));
    assert.deepEqual(await Promise.all(urls().map(fresh)), ["v9", "v9", "v9"]);
  });
});
