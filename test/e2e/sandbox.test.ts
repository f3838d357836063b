// A compromised process app on a bed machine (test/fixtures/malicious-app): it plants
// links where skiff places files and links volumes, then a pre_deploy hook or a
// rollback makes skiff (root) start the same release again. Root's files stay as
// they were; the app runs as a user of its own, which cannot read another app's
// environment nor write its directories. Its own public port (8094), project sbx.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { faults, up, type Bed } from "../../testbed/bed.ts";
import { makeProject, type Project, type Run } from "./helpers.ts";

const APP = new URL("../fixtures/malicious-app", import.meta.url).pathname;
const PORT = 8094;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let bed: Bed;
let p: Project;
const m1 = () => bed.machines[0]!;
const on = (cmd: string) => faults.exec(m1(), cmd);
const ok = (r: Run, what: string) => assert.equal(r.code, 0, `${what}: ${r.stderr}`);
const get = async (path: string) => (await (await fetch(`http://${m1().address}:${PORT}${path}`)).text()).trim();

/** Root's files the app aims at, as `find` and `sha256sum` see them (content, type, owner, mode, size). */
const VICTIMS = "/root/victim /root/victimdir /root/victimvol";
const victims = () => on(`find ${VICTIMS} -printf '%p %y %U:%G %m %s\\n' | sort; find ${VICTIMS} -type f -exec sha256sum {} + | sort`);

interface Opts {
  plant?: "files" | "parents";
  hook?: string;
  version: string;
}
function configure(o: Opts): void {
  const m = m1();
  writeFileSync(
    join(p.dir, "skiff.yml"),
    `project: sbx
machines:
  ${m.name}: { host: 127.0.0.1, port: ${m.sshPort}, private_address: ${m.address}, http_port: ${PORT}, ssh: { identity_file: ${bed.identityFile} } }
apps:
  evil:
    run: node server.js
    artifact: ${APP}
    env: { PLANT: "${o.plant ?? ""}", VERSION: "${o.version}" }
    files:
      config/app.env: { source: app.env, template: true }
      conf/nested/x.env: x.env
    volumes: { data: var/data, cache: cache }
${o.hook ? `    hooks: { pre_deploy: ${JSON.stringify(o.hook)} }\n` : ""}    routes: [{ path: /evil }]
    health: { interval: 200ms, deadline: 10s }
    deploy: { drain_timeout: 1s, stop_timeout: 2s, probation: 500ms }
  other:
    run: node server.js
    artifact: ${APP}
    env: { OTHER_SECRET: "s3cr3t-of-other" }
    volumes: { data: data }
    routes: [{ path: /other }]
    health: { interval: 200ms, deadline: 10s }
    deploy: { drain_timeout: 1s, stop_timeout: 2s, probation: 500ms }
`,
  );
}

describe("a malicious process app on a bed machine", { timeout: 600_000 }, () => {
  let before0 = "";

  before(async () => {
    bed = await up({ count: 1, log: (s) => console.error(`bed: ${s}`) });
    p = makeProject();
    writeFileSync(join(p.dir, "app.env"), "TOKEN=${VERSION}\n");
    writeFileSync(join(p.dir, "x.env"), "NESTED=1\n");
    await on(
      `rm -rf ${VICTIMS} && printf "root's secret\\n" > /root/victim && chmod 600 /root/victim && mkdir -m 700 /root/victimdir /root/victimvol /root/victimvol/data ` +
        `&& printf 'keep\\n' > /root/victimdir/keep && printf 'keep\\n' > /root/victimvol/data/keep && chmod 600 /root/victimdir/keep /root/victimvol/data/keep`,
    );
    before0 = await victims();
    configure({ version: "v1" });
    for (const args of [["machines", "trust", "--yes"], ["setup"]]) ok(await p.skiff(args), args.join(" "));
  });
  after(async () => {
    await p.skiff(["remove", "evil", "other", "--yes"]);
    await on(`rm -rf ${VICTIMS}`);
  });

  it("runs each app as a user of its own, which cannot read the other's environment nor write its directories", async () => {
    ok(await p.skiff(["deploy"]), "deploy");
    assert.equal(await get("/evil/whoami"), "skiff_sbx_evil");
    assert.equal(await get("/other/whoami"), "skiff_sbx_other");
    const users = await on("ps -eo user:32=,args= | awk '$2==\"node\" && $3==\"server.js\" {print $1}' | sort | uniq -c");
    assert.match(users, /skiff_sbx_evil/);
    assert.match(users, /skiff_sbx_other/);
    assert.doesNotMatch(users, /nobody/);
    assert.ok((JSON.parse(await get("/other/peek")) as string[]).length >= 1, "other sees OTHER_SECRET in its own environment");
    assert.equal(await get("/evil/peek"), "[]", "evil reads no environment holding other's secret");
    assert.equal(await get("/evil/poke"), "[]", "evil writes none of other's directories");
    // What root keeps about instances (their env, their logs) is root's alone.
    assert.equal((await on("stat -c '%U %a' /var/lib/skiff/instances")).trim(), "root 700");
  });

  it("a pre_deploy hook that plants links at the files' and volumes' paths: they are replaced, root's files untouched", async () => {
    configure({ version: "v2", hook: "node server.js plant files" });
    const d = await p.skiff(["deploy"]);
    ok(d, "deploy");
    assert.equal(await victims(), before0, "root's files are unchanged");
    const release = (await on("ls -t /var/lib/skiff/work/sbx/evil | head -1")).trim();
    const placed = (await on(`cd /var/lib/skiff/work/sbx/evil/${release} && stat -c '%F %U' config/app.env && cat config/app.env && readlink cache`)).trim();
    assert.equal(placed, "regular file skiff_sbx_evil\nTOKEN=v2\n/var/lib/skiff/volumes/sbx/evil/cache");
  });

  it("a rollback to a release whose instance linked a parent away is refused, saying where; root's files untouched", async () => {
    configure({ version: "v3", plant: "parents" });
    ok(await p.skiff(["deploy"]), "deploy v3 (its instance plants links at the parents)");
    const status = JSON.parse((await p.skiff(["--json", "status"])).stdout) as { apps: { app: string; active: number }[] }[];
    const planted = status[0]!.apps.find((a) => a.app === "evil")!.active;
    configure({ version: "v4" });
    ok(await p.skiff(["deploy"]), "deploy v4");
    await sleep(1500); // past probation: the planted release no longer runs, a rollback starts it anew
    const rb = await p.skiff(["rollback", "evil", "--to", String(planted)]);
    assert.equal(await victims(), before0, "root's files are unchanged");
    assert.notEqual(rb.code, 0, "the rollback cannot place the release's files");
    assert.match(rb.stderr, /cannot place conf\/nested\/x\.env in the working directory as skiff_sbx_evil: .*Permission denied/);
    assert.equal(await get("/evil/whoami"), "skiff_sbx_evil", "the app still serves (v4)");
  });
});
