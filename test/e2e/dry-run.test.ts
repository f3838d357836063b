// --dry-run on 3 bed machines: after two deploys and a config change, `deploy`,
// `rollback`, `scale` and `remove` with --dry-run each print their plan and
// change nothing — every machine's saved state (app state, releases, history,
// locks, proxy files) and HAProxy's live servers are the same before and after;
// and `skiff plan` prints the very plan `skiff deploy --dry-run` prints.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { bedConfig, faults, up, type Bed } from "../../testbed/bed.ts";
import { makeProject, type Project, type Run } from "./helpers.ts";

const HELLO_NODE = new URL("../../examples/hello-node", import.meta.url).pathname;
const PORT = 8096; // its own public port: other suites' apps on the same machines do not matter

let bed: Bed;
let p: Project;

function configure(mark: string): void {
  writeFileSync(
    join(p.dir, "skiff.yml"),
    bedConfig(bed, {
      project: "dryrun",
      httpPort: PORT,
      extra: `apps:
  web:
    run: node server.js
    artifact: ${HELLO_NODE}
    instances: 3
    env: { VERSION: d1, MARK: ${mark} }
    hooks: { pre_deploy: "true" }
    routes: [{ path: / }]
    health: { interval: 200ms, deadline: 5s }
    deploy: { drain_timeout: 1s, stop_timeout: 2s, probation: 500ms }
`,
    }),
  );
}

const ok = (r: Run, what: string) => assert.equal(r.code, 0, `${what}: ${r.stdout}\n${r.stderr}`);

/** Everything a change of this project could touch on a machine: its saved state under /var/lib/skiff (app state,
 *  releases, the lock directories) with each file's hash and mtime, its history records, its HAProxy backend as
 *  haproxy.cfg renders it, and its servers as HAProxy's Runtime API says. Other projects on the shared bed (earlier
 *  suites' apps, whose supervisors go on working: warm instances expire, state files are rewritten) are left out. */
async function snapshot(): Promise<string[]> {
  const files = `cd /var/lib/skiff && find ./apps/dryrun ./locks -print | sort | while read f; do if [ -f "$f" ]; then echo "$f $(sha256sum < "$f" | cut -c1-16) $(stat -c %Y "$f")"; else echo "$f/"; fi; done; echo "history $(grep -F '"project":"dryrun"' history.jsonl | sha256sum | cut -c1-16)"; echo "backend $(awk '/^backend /{p = ($2 == "skiff_dryrun_web")} p' proxy/haproxy.cfg | sha256sum | cut -c1-16)"`;
  const q = `require("net").createConnection("/run/skiff/haproxy.sock").on("connect", function () { this.write("show servers state\\n") }).pipe(process.stdout)`;
  // The agent's own Node (machines need no `node` on PATH): with a missing one the pipe printed nothing, and
  // this part of the comparison held vacuously.
  const servers = `/var/lib/skiff/node/bin/node -e '${q}' | awk 'NR>2 && $2 ~ /^skiff_dryrun_/ {print $2, $4, $5, $6, $7}'`;
  return Promise.all(
    bed.machines.map(async (m) => {
      const live = await faults.exec(m, servers);
      assert.ok(live.trim(), `${m.name}: HAProxy's Runtime API listed no server of skiff_dryrun_web`);
      return `${m.name}\n${await faults.exec(m, files)}\n${live}`;
    }),
  );
}

/** Until the outgoing release's warm instances are gone (probation: 500ms): the supervisor's own change, not a dry run's. */
async function settled(): Promise<void> {
  for (let i = 0; i < 60; i++) {
    const r = await p.skiff(["--json", "status"]);
    const machines = JSON.parse(r.stdout) as { apps?: { app: string; warm: unknown[] }[] }[];
    if (r.code === 0 && machines.every((m) => (m.apps ?? []).every((a) => a.warm.length === 0))) return;
    await new Promise((res) => setTimeout(res, 500));
  }
  assert.fail("the outgoing release's warm instances did not stop within 30 s");
}

const lastJson = <T>(r: Run): T => JSON.parse(r.stdout.trim().split("\n").pop()!) as T;

describe("--dry-run changes nothing; plan and deploy --dry-run print one plan", { timeout: 900_000 }, () => {
  before(async () => {
    bed = await up({ count: 3, log: (s) => console.error(`bed: ${s}`) });
    p = makeProject();
    configure("one");
    ok(await p.skiff(["machines", "trust", "--yes"]), "trust");
    ok(await p.skiff(["setup"]), "setup");
    // The bed is shared with other suites: this project starts from nothing on it.
    await p.skiff(["remove", "web", "--yes"]);
    ok(await p.skiff(["deploy"]), "deploy one");
    configure("two");
    ok(await p.skiff(["deploy"]), "deploy two");
    configure("three");
  });

  it("deploy, rollback, scale and remove --dry-run print their plans; no machine changes", async () => {
    await settled();
    const before = await snapshot();
    // status lists damaged history records the agent has come across; a rollback plan reads the history, so it is
    // read once before (the shared bed's history may hold a record a fault test cut short).
    ok(await p.skiff(["history"]), "history");
    const status = (await p.skiff(["--json", "status"])).stdout;

    const d = await p.skiff(["deploy", "--dry-run"]);
    ok(d, "deploy --dry-run");
    assert.match(d.stdout, /m1: release \d+ → new release: start 1 instance, stop 1\n {4}env\.MARK: two → three\n/);
    assert.match(d.stdout, /pre_deploy on m1: true/);
    assert.match(d.stdout, /plan: 3 changes \(app × machine\)/);
    assert.match(d.stdout, /ship: nothing \(every machine that runs it has it\)/);
    assert.doesNotMatch(d.stdout, /deploy done/);
    assert.doesNotMatch(d.stderr, /build|ship|activate|pre_deploy/, "no step ran");

    const r = await p.skiff(["rollback", "--dry-run"]);
    ok(r, "rollback --dry-run");
    assert.match(r.stdout, /web → release \d+ \(the one that served before\)\n {2}m1: release \d+ → release \d+: start 1 instance, stop 1\n {4}env\.MARK: two → one/);

    const s = await p.skiff(["scale", "web=5", "--dry-run"]);
    ok(s, "scale --dry-run");
    assert.match(s.stdout, /web: 3 → 5 instances \(m1: 2, m2: 2, m3: 1\), release \d+/);
    assert.match(s.stdout, /instances: 3 → 5/);

    const x = await p.skiff(["remove", "web", "--dry-run", "--yes"]);
    ok(x, "remove --dry-run");
    assert.match(x.stdout, /m1: stop 1 instance of release \d+, delete releases \d+, \d+/);

    for (const args of [["--json", "deploy", "--dry-run"], ["--json", "rollback", "--dry-run"], ["--json", "scale", "web=5", "--dry-run"], ["--json", "remove", "web", "--dry-run"]]) {
      const j = await p.skiff(args);
      ok(j, args.join(" "));
      assert.equal(lastJson<{ action: string }>(j).action, args[1], args.join(" "));
    }

    assert.deepEqual(await snapshot(), before, "every machine's state files and HAProxy servers are unchanged");
    assert.equal((await p.skiff(["--json", "status"])).stdout, status);
  });

  it("skiff plan prints the plan deploy --dry-run prints, text and JSON alike", async () => {
    const plan = await p.skiff(["plan"]);
    assert.equal(plan.code, 2, plan.stderr);
    const dry = await p.skiff(["deploy", "--dry-run"]);
    ok(dry, "deploy --dry-run");
    assert.equal(dry.stdout, plan.stdout);
    const pj = await p.skiff(["--json", "plan"]);
    const dj = await p.skiff(["--json", "deploy", "--dry-run"]);
    assert.deepEqual(lastJson(dj), lastJson(pj));
    assert.equal(lastJson<{ apps: { release: number; reused: boolean }[] }>(pj).apps[0]!.reused, false);
  });
});
