// Secrets in git, plan, diff and the pre_deploy hook on 3 bed machines (the Node
// example app as processes, on its own public port 8090 so other suites' apps
// on the same machines do not matter), plus a canary that must appear nowhere
// and a property test for env values reaching instances byte-exact.
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { faults, up, type Bed } from "../../testbed/bed.ts";
import { makeProject, type Project, type Run } from "./helpers.ts";

const HELLO_NODE = new URL("../../examples/hello-node", import.meta.url).pathname;
const BIN = new URL("../../bin/skiff.js", import.meta.url).pathname;
const PORT = 8090;
const CANARY = `canary-${Math.random().toString(36).slice(2)}-7f3e`;

let bed: Bed;
let p: Project;
let keyFile: string;
let recipient: string;
const env = () => ({ ...process.env, SKIFF_AGE_IDENTITY: keyFile, NO_COLOR: "1", SKIFF_SOCKET_DIR: p.socketDir });

/** skiff with stdin (secrets set) and the test's age identity. */
function skiff(args: string[], stdin?: string): Promise<Run> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [BIN, ...args], { cwd: p.dir, env: env(), stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    c.stdout.on("data", (b) => (stdout += b));
    c.stderr.on("data", (b) => (stderr += b));
    c.on("close", (code) => resolve({ code, stdout, stderr }));
    c.stdin.end(stdin ?? "");
  });
}

interface AppOpts {
  env?: Record<string, string>;
  /** Extra YAML lines under the app (files:, volumes:). */
  extra?: string;
  secrets?: string[];
  hook?: string;
  crash?: boolean;
}

function configure(o: AppOpts = {}): void {
  const machines = bed.machines.map((m) => `  ${m.name}: { host: 127.0.0.1, port: ${m.sshPort}, private_address: ${m.address}, http_port: ${PORT}, ssh: { identity_file: ${bed.identityFile} } }`).join("\n");
  const envYaml = Object.entries({ VERSION: "s1", ...o.env, ...(o.crash ? { CRASH_AT_BOOT: "1" } : {}) }).map(([k, v]) => `      ${k}: ${JSON.stringify(v)}`).join("\n");
  writeFileSync(
    join(p.dir, "skiff.yml"),
    `project: sec
machines:
${machines}
secrets: { recipients: [${recipient}] }
apps:
  web:
    run: node server.js
    artifact: ${HELLO_NODE}
    instances: 3
    env:
${envYaml}
    secrets: [${(o.secrets ?? ["DB_PASSWORD", "CANARY"]).join(", ")}]
${o.hook ? `    hooks: { pre_deploy: ${JSON.stringify(o.hook)} }\n` : ""}${o.extra ?? ""}    routes: [{ path: / }]
    health: { interval: 200ms, deadline: 5s }
    deploy: { drain_timeout: 2s, stop_timeout: 2s, probation: 1s }
`,
  );
}

const get = async (m: Bed["machines"][number], path: string) => {
  const r = await fetch(`http://${m.address}:${PORT}${path}`);
  return { status: r.status, body: await r.text() };
};
const served = (path: string) => Promise.all(bed.machines.map(async (m) => (await get(m, path)).body));
const active = async () => (JSON.parse((await skiff(["--json", "status"])).stdout) as { apps: { app: string; active: number }[] }[]).map((m) => m.apps.find((a) => a.app === "web")?.active);
const ok = (r: Run, what: string) => assert.equal(r.code, 0, `${what}: ${r.stderr}`);

describe("secrets, plan, diff and the pre_deploy hook on 3 machines", { timeout: 900_000 }, () => {
  const outputs: string[] = [];
  const record = (r: Run) => (outputs.push(r.stdout, r.stderr), r);

  before(async () => {
    bed = await up({ count: 3, log: (s) => console.error(`bed: ${s}`) });
    p = makeProject();
    keyFile = join(mkdtempSync(join(tmpdir(), "skiff-age-")), "key.txt");
    const kg = await (async () => {
      const c = execFileSync(process.execPath, [BIN, "secrets", "keygen"], { env: { ...process.env, SKIFF_AGE_IDENTITY: keyFile }, encoding: "utf8" });
      return c;
    })();
    recipient = /public key: (age1\w+)/.exec(kg)![1]!;
    assert.equal(statSync(keyFile).mode & 0o777, 0o600);
    configure();
    ok(await skiff(["machines", "trust", "--yes"]), "trust");
    ok(await skiff(["setup"]), "setup");
    // The bed is shared with other suites: this project starts from nothing on it.
    await skiff(["remove", "web", "--yes"]);
  });

  it("secrets: set from stdin, listed by name, decrypted by Debian's age with the team key", async () => {
    ok(record(await skiff(["secrets", "set", "DB_PASSWORD"], "one\n")), "set");
    ok(record(await skiff(["secrets", "set", "CANARY"], CANARY)), "set canary");
    const list = record(await skiff(["secrets", "list"]));
    assert.equal(list.stdout, "CANARY  (web)\nDB_PASSWORD  (web)\n");
    const hidden = record(await skiff(["secrets", "show", "DB_PASSWORD"]));
    assert.equal(hidden.code, 1);
    assert.doesNotMatch(hidden.stderr + hidden.stdout, /\bone\b/);
    const reveal = await skiff(["secrets", "show", "DB_PASSWORD", "--reveal"]);
    assert.equal(reveal.stdout, "one");
    const file = join(p.dir, "secrets", "default.age");
    assert.match(readFileSync(file, "utf8"), /^-----BEGIN AGE ENCRYPTED FILE-----/);
    assert.doesNotMatch(readFileSync(file, "utf8"), new RegExp(CANARY));
    const plain = JSON.parse(execFileSync("age", ["-d", "-i", keyFile, file], { encoding: "utf8" })) as Record<string, string>;
    assert.deepEqual(plain, { CANARY, DB_PASSWORD: "one" });
  });

  it("plan exits 2 before the first deploy and 0 after it; a changed secret alone makes a new release; rollback restores the old value", async () => {
    const p1 = record(await skiff(["plan"]));
    assert.equal(p1.code, 2, p1.stderr);
    assert.match(p1.stdout, /m1: nothing yet → new release: start 1 instance/);
    ok(record(await skiff(["deploy"])), "deploy 1");
    assert.deepEqual(await served("/env/DB_PASSWORD"), ["one", "one", "one"]);
    const first = (await active())[0]!;
    const p2 = record(await skiff(["plan"]));
    assert.equal(p2.code, 0, p2.stdout + p2.stderr);
    assert.match(p2.stdout, /plan: nothing to do/);

    ok(record(await skiff(["secrets", "set", "DB_PASSWORD"], "two")), "set two");
    const p3 = record(await skiff(["plan"]));
    assert.equal(p3.code, 2);
    assert.match(p3.stdout, /secret DB_PASSWORD: changed \(value hidden\)/);
    assert.doesNotMatch(p3.stdout, /\btwo\b/);
    ok(record(await skiff(["deploy"])), "deploy 2");
    assert.deepEqual(await active(), [first + 1, first + 1, first + 1]);
    assert.deepEqual(await served("/env/DB_PASSWORD"), ["two", "two", "two"]);

    ok(record(await skiff(["rollback"])), "rollback");
    assert.deepEqual(await active(), [first, first, first]);
    assert.deepEqual(await served("/env/DB_PASSWORD"), ["one", "one", "one"]);
    // On the machines, the release holding the values is 0600.
    const mode = await faults.exec(bed.machines[0]!, `stat -c %a /var/lib/skiff/apps/sec/web/releases/${first}.json`);
    assert.equal(mode.trim(), "600");
  });

  it("diff -e shows how two environments differ, secret values hidden", async () => {
    configure();
    writeFileSync(join(p.dir, "skiff.yml"), readFileSync(join(p.dir, "skiff.yml"), "utf8") + "environments:\n  staging:\n    apps:\n      web: { instances: 6, env: { VERSION: s2 } }\n");
    ok(record(await skiff(["secrets", "set", "DB_PASSWORD", "-e", "staging"], "three")), "set staging");
    ok(record(await skiff(["secrets", "set", "CANARY", "-e", "staging"], CANARY)), "set staging canary");
    const d = record(await skiff(["diff", "-e", "default", "-e", "staging"]));
    assert.equal(d.code, 2, d.stderr);
    assert.equal(d.stdout, "default → staging:\n  web: instances: 3 → 6\n  web: env.VERSION: s1 → s2\n  web: secret DB_PASSWORD: differs (values hidden)\n");
    configure();
  });

  it("the pre_deploy hook runs exactly once per deploy on 3 machines; its failure aborts the deploy and prints its output", async () => {
    for (const m of bed.machines) await faults.exec(m, "rm -f /tmp/skiff-hook-ran");
    configure({ env: { VERSION: "h1" }, hook: 'echo "migrating to release $SKIFF_RELEASE"; echo "$SKIFF_MACHINE" >> /tmp/skiff-hook-ran' });
    const d = record(await skiff(["deploy"]));
    ok(d, "deploy with hook");
    const counts = await Promise.all(bed.machines.map((m) => faults.exec(m, "cat /tmp/skiff-hook-ran 2>/dev/null | wc -l")));
    assert.deepEqual(counts.map((c) => Number(c.trim())), [1, 0, 0], "once, on the first machine");
    assert.deepEqual(await served("/version"), ["h1\n", "h1\n", "h1\n"]);
    // Nothing to change: no hook.
    ok(record(await skiff(["deploy"])), "re-run");
    assert.equal(Number((await faults.exec(bed.machines[0]!, "wc -l < /tmp/skiff-hook-ran")).trim()), 1);

    const before = await active();
    configure({ env: { VERSION: "h2" }, hook: "echo 'migration 42 failed: column exists' >&2; exit 3" });
    const bad = record(await skiff(["deploy"]));
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /pre_deploy exited with code 3; nothing was deployed/);
    assert.match(bad.stderr, /migration 42 failed: column exists/);
    assert.deepEqual(await active(), before, "no machine changed release");
    assert.deepEqual(await served("/version"), ["h1\n", "h1\n", "h1\n"]);
    const hist = JSON.parse(record(await skiff(["--json", "history", "web"])).stdout) as { action: string; machines: Record<string, { result: string }> }[];
    const hooks = hist.filter((h) => h.action === "pre_deploy");
    assert.deepEqual(hooks.slice(-2).map((h) => [Object.keys(h.machines).join(), h.machines.m1!.result]), [["m1", "ok"], ["m1", "failed"]]);
  });

  it("files (one templated with a secret, 0600) and a volume that keeps its data across deploys and rollbacks", async () => {
    mkdirSync(join(p.dir, "conf"), { recursive: true });
    writeFileSync(join(p.dir, "conf", "app.ini"), "version=${VERSION}\npassword=${DB_PASSWORD}\nliteral=$${NOT_EXPANDED}\n");
    writeFileSync(join(p.dir, "conf", "static.txt"), "static one\n");
    const extra = (n: string) => `    files:\n      conf/app.ini: { source: conf/app.ini, mode: "0600", template: true }\n      static.txt: conf/static.txt\n    volumes: { data: var/data${n} }\n`;
    configure({ env: { VERSION: "f1" }, extra: extra("") });
    ok(record(await skiff(["deploy"])), "deploy f1");
    const m = bed.machines[2]!;
    const log = `var/data/log-${Date.now()}`; // volumes outlive the app, and so earlier runs of this suite
    const pw = (await skiff(["secrets", "show", "DB_PASSWORD", "--reveal"])).stdout;
    assert.equal((await get(m, "/file?path=conf/app.ini")).body, `version=f1\npassword=${pw}\nliteral=\${NOT_EXPANDED}\n`);
    assert.equal((await get(m, "/file?path=static.txt")).body, "static one\n");
    const rel = (await active())[2]!;
    assert.equal((await faults.exec(m, `stat -c '%a %U' /var/lib/skiff/work/sec/web/${rel}/conf/app.ini`)).trim(), "600 skiff_sec_web");
    assert.equal((await get(m, `/append?path=${log}&data=first`)).body, "first\n");

    writeFileSync(join(p.dir, "conf", "static.txt"), "static two\n");
    configure({ env: { VERSION: "f2" }, extra: extra("") });
    const plan = record(await skiff(["plan"]));
    assert.match(plan.stdout, /file static\.txt: changed/);
    assert.match(plan.stdout, /file conf\/app\.ini: changed/);
    ok(record(await skiff(["deploy"])), "deploy f2");
    assert.equal((await get(m, "/file?path=static.txt")).body, "static two\n");
    assert.equal((await get(m, `/append?path=${log}&data=second`)).body, "first\nsecond\n", "the volume survived the deploy");
    ok(record(await skiff(["rollback"])), "rollback");
    assert.equal((await get(m, "/file?path=static.txt")).body, "static one\n", "the old release's files came back");
    assert.equal((await get(m, `/append?path=${log}&data=third`)).body, "first\nsecond\nthird\n", "the volume survived the rollback");
  });

  it("the canary secret appears in no argv, log, history, plan or error output", async () => {
    configure({ env: { VERSION: "c1" }, crash: true });
    const bad = record(await skiff(["deploy"]));
    assert.equal(bad.code, 1, "a release that crashes at boot fails");
    record(await skiff(["plan"]));
    record(await skiff(["--json", "status"]));
    record(await skiff(["history"]));
    record(await skiff(["--json", "history"]));
    for (const o of outputs) assert.ok(!o.includes(CANARY), `the canary is in CLI output: ${o.slice(0, 300)}`);
    for (const m of bed.machines) {
      // Every process's argv, the agent's and instances' logs, history, HAProxy's config: nowhere.
      // The canary travels base64-encoded and grep reads it from a file: neither this command's argv nor grep's holds it.
      const b64 = Buffer.from(CANARY).toString("base64");
      const found = await faults.exec(
        m,
        `f=$(mktemp); printf %s ${b64} | base64 -d > $f; for src in argv agent-logs instance-logs history proxy docker-logs; do n=$(case $src in argv) ps -eo args ;; agent-logs) cat /var/log/skiff/*.log /var/log/*.log ;; instance-logs) cat /var/lib/skiff/instances/*/out.log* ;; history) cat /var/lib/skiff/history.jsonl ;; proxy) cat /var/lib/skiff/proxy/* ;; docker-logs) for id in $(docker ps -aq); do docker logs $id 2>&1; done ;; esac 2>/dev/null | grep -c -F -f $f); [ "$n" = 0 ] || echo "$src:$n"; done; rm -f $f`,
      );
      assert.equal(found.trim(), "", `the canary is on ${m.name}: ${found}`);
      // Where it must be, it is, and private: the release file (0600).
      const where = await faults.exec(m, `grep -l ${CANARY} /var/lib/skiff/apps/sec/web/releases/*.json | head -1 | xargs stat -c %a`);
      assert.equal(where.trim(), "600");
    }
  });

  it("property: generated env names and values reach the instance byte-exact (env and secrets)", async () => {
    let seed = 20261123;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    const pool = ["a", "Z", "0", " ", "'", '"', "$", "$HOME", "${PATH}", "$(id)", "`id`", "\\", "\\n", "\n", "\t", "=", ";", "&", "|", "#", "é", "中", "😀", "%", "*", "?", "~", "!", "{", "}"];
    const value = () => Array.from({ length: rnd(12) }, () => pool[rnd(pool.length)]).join("");
    const values: Record<string, string> = {};
    for (let i = 0; i < 12; i++) values[`P${i}_${"ABCXYZ_"[rnd(7)]}${rnd(100)}`] = value();
    values.P_EMPTY = "";
    const secretNames = Object.keys(values).filter((_, i) => i % 3 === 0);
    for (const s of secretNames) ok(await skiff(["secrets", "set", s], values[s]! + "\n"), `set ${s}`);
    const plainEnv = Object.fromEntries(Object.entries(values).filter(([k]) => !secretNames.includes(k)));
    configure({ env: { VERSION: "p1", ...plainEnv }, secrets: ["DB_PASSWORD", "CANARY", ...secretNames] });
    ok(await skiff(["deploy"]), "deploy");
    for (const [k, v] of Object.entries(values)) {
      const got = await get(bed.machines[1]!, `/env/${k}`);
      assert.equal(got.status, 200, `${k} is not set`);
      assert.equal(Buffer.from(got.body).toString("hex"), Buffer.from(v).toString("hex"), `${k}: ${JSON.stringify(got.body)} !== ${JSON.stringify(v)}`);
    }
  });
});
