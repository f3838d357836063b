// Internal names on 3 bed machines: `users` (Docker, examples/hello; its version
// from env, so a new version is a config change on one image) runs on m1 and m2
// only; `api` (a process, examples/call-by-name, on all three) calls it at
// http://users.internal/. Under load through api's public port on every machine,
// a deploy of users and its rollback fail no request and the answers switch
// versions; m3, which runs no users, serves the name through its peers; a
// container (examples/hello, on m3) has the names in its own /etc/hosts and
// reaches users from its network namespace. Its own port 8098, project `names`.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { startLoad, type LoadResult } from "../../src/load/load.ts";
import { faults, up, type Bed } from "../../testbed/bed.ts";
import { makeProject, type Project, type Run } from "./helpers.ts";

const CALLER = new URL("../../examples/call-by-name", import.meta.url).pathname;
const HELLO = new URL("../../examples/hello", import.meta.url).pathname;
const PORT = 8098;
const LABELS: Record<string, string[]> = { m1: ["users"], m2: ["users"], m3: ["edge"] };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let bed: Bed;
let p: Project;

function configure(o: { users: string; box?: boolean; everywhere?: boolean }): void {
  const machines = bed.machines.map((m) => `  ${m.name}: { host: 127.0.0.1, port: ${m.sshPort}, private_address: ${m.address}, http_port: ${PORT}, labels: [${LABELS[m.name]!.join(", ")}], ssh: { identity_file: ${bed.identityFile} } }`).join("\n");
  const common = "    health: { path: /healthz, interval: 200ms, deadline: 10s }\n    deploy: { drain_timeout: 5s, stop_timeout: 5s, probation: 3s }\n";
  writeFileSync(
    join(p.dir, "skiff.yml"),
    `project: names
machines:
${machines}
apps:
  users:
    build: { context: ${HELLO} }
    port: 3000
${o.everywhere ? "    instances: 3\n" : "    instances: 2\n    labels: [users]\n"}    env: { VERSION: ${o.users} }
${common}  api:
    run: node server.js
    artifact: ${CALLER}
    instances: 3
    routes: [{ path: / }]
${common}${
      o.box
        ? `  box:
    build: { context: ${HELLO}, args: { VERSION: b1 } }
    port: 3000
    labels: [edge]
${common}`
        : ""
    }`,
  );
}

const urls = () => bed.machines.map((m) => `http://${m.address}:${PORT}/`);
const onBed = (host: string) => bed.machines.some((m) => m.address === host);
const json = <T>(r: Run): T => JSON.parse(r.stdout) as T;
type Status = { machine: string; apps: { app: string; internalUrl: string; instances: { running: boolean; healthy: boolean }[] }[] }[];
const ok = (r: Run, what: string) => assert.equal(r.code, 0, `${what}: ${r.stderr}`);
const noFailures = (l: LoadResult) => assert.equal(l.failures, 0, `${l.failures} of ${l.requests} failed: ${JSON.stringify(l.samples.slice(0, 5))}`);
/** What api answers on each machine: the version of users that answered it. */
const versions = () => Promise.all(urls().map(async (u) => (await (await fetch(u)).text()).split(" ")[2]!));

async function underLoad(args: string[]): Promise<{ run: Run; load: LoadResult }> {
  const load = startLoad({ urls: urls(), concurrency: 6, alsoAllow: onBed });
  await sleep(300);
  const run = await p.skiff(args);
  await sleep(800);
  return { run, load: await load.stop() };
}

describe("internal names: api calls users by name on 3 machines", { timeout: 900_000 }, () => {
  before(async () => {
    bed = await up({ count: 3, log: (s) => console.error(`bed: ${s}`) });
    p = makeProject();
    configure({ users: "users-1" });
    for (const args of [["machines", "trust", "--yes"], ["setup"]]) ok(await p.skiff(args), args.join(" "));
    for (const app of ["api", "users", "box"]) await p.skiff(["remove", app, "--yes"]); // the bed is shared: start from nothing
  });
  after(async () => {
    for (const app of ["api", "users", "box"]) await p?.skiff(["remove", app, "--yes"]);
  });

  it("every machine names users, and api reaches it from each (m3, which runs none, through its peers)", async () => {
    ok(await p.skiff(["deploy", "users"]), "deploy users");
    ok(await p.skiff(["deploy", "api"]), "deploy api");
    const s = json<Status>(await p.skiff(["--json", "status"]));
    const count = (m: string, app: string) => s.find((x) => x.machine === m)?.apps.find((a) => a.app === app)?.instances.filter((i) => i.running && i.healthy).length ?? 0;
    assert.deepEqual(bed.machines.map((m) => count(m.name, "users")), [1, 1, 0]);
    assert.deepEqual(bed.machines.map((m) => count(m.name, "api")), [1, 1, 1]);
    assert.deepEqual([...new Set(s.flatMap((m) => m.apps.map((a) => `${a.app} ${a.internalUrl}`)))].sort(), ["api http://api.names.internal/", "users http://users.names.internal/"]);
    const text = (await p.skiff(["status"])).stdout;
    assert.match(text, /^users\s+http:\/\/users\.names\.internal\/\s+http:\/\/users\.internal\/$/m, text);
    assert.deepEqual(await versions(), ["users-1", "users-1", "users-1"]);
    const m3 = bed.machines[2]!;
    assert.match(await faults.exec(m3, "getent hosts users.internal users.names.internal api.names.internal"), /^127\.77\.0\.1\s+users\.internal users\.names\.internal\n127\.77\.0\.1\s+users\.internal users\.names\.internal\n127\.77\.0\.1\s+api\.internal api\.names\.internal$/);
    // The name is m3's own: an answer from users, whichever machine it ran on, through m3's HAProxy.
    for (const name of ["users.internal", "users.names.internal"]) {
      assert.match(await faults.exec(m3, `curl -sS --max-time 5 http://${name}/`), /^hello from users-1 on m[12]$/, `${name} from m3`);
    }
    // Skiff's block holds them (and the names of other projects' apps on this shared bed); the machine's own lines stay.
    const hosts = await faults.exec(m3, "cat /etc/hosts");
    const block = /^# BEGIN skiff.*\n([^]*?)^# END skiff$/m.exec(hosts)?.[1]?.split("\n") ?? [];
    for (const line of ["127.77.0.1 users.internal users.names.internal", "127.77.0.1 api.internal api.names.internal"]) assert.ok(block.includes(line), hosts);
    assert.match(hosts, /^127\.0\.0\.1\s+localhost$/m);
    assert.match(hosts, new RegExp(`^${m3.address.replace(/\./g, "\\.")}\\s+m3$`, "m"));
  });

  it("the internal frontend listens on internal addresses only: the name is not served on the machine's network address", async () => {
    const m3 = bed.machines[2]!;
    const cfg = await faults.exec(m3, "cat /var/lib/skiff/proxy/haproxy.cfg");
    const fe = cfg.split("\n\n").find((b) => b.startsWith("frontend internal"))!;
    assert.ok(fe, cfg);
    assert.deepEqual(fe.split("\n").filter((l) => l.includes("bind ")).map((l) => l.trim()), ["bind 127.77.0.1:80", "bind 172.17.0.1:80"]);
    // From outside the machine, Host: users.internal at its address on port 80 never reaches users (another
    // project's catch-all public route on this shared bed may answer it: that is its public route, not the name).
    const r = await fetch(`http://${m3.address}:80/`, { headers: { Host: "users.internal" } }).then((x) => x.text(), (e: Error) => `refused: ${(e.cause as Error)?.message ?? e.message}`);
    assert.doesNotMatch(r, /users-1/, r);
  });

  it("a deploy of users and its rollback, under load through api on every machine: 0 failed requests, the answers switch", async () => {
    configure({ users: "users-2" });
    const d = await underLoad(["deploy", "users"]);
    ok(d.run, "deploy users v2");
    noFailures(d.load);
    assert.ok((d.load.versions["users-1"] ?? 0) > 0 && (d.load.versions["users-2"] ?? 0) > 0, JSON.stringify(d.load.versions));
    assert.deepEqual(await versions(), ["users-2", "users-2", "users-2"]);
    const rb = await underLoad(["rollback", "users"]);
    ok(rb.run, "rollback users");
    noFailures(rb.load);
    assert.ok((rb.load.versions["users-1"] ?? 0) > 0 && (rb.load.versions["users-2"] ?? 0) > 0, JSON.stringify(rb.load.versions));
    assert.deepEqual(await versions(), ["users-1", "users-1", "users-1"]);
    console.error(`deploy: ${d.load.requests} requests, ${JSON.stringify(d.load.versions)}; rollback: ${rb.load.requests} requests, ${JSON.stringify(rb.load.versions)}`);
  });

  it("a container has the names in its own /etc/hosts and reaches users from its network namespace", async () => {
    configure({ users: "users-1", box: true });
    ok(await p.skiff(["deploy", "box"]), "deploy box");
    const m3 = bed.machines[2]!;
    const pid = (await faults.exec(m3, "docker ps --filter label=skiff.app=box --format '{{.ID}}' | head -1 | xargs docker inspect --format '{{.State.Pid}}'")).trim();
    assert.match(pid, /^\d+$/);
    const hosts = await faults.exec(m3, `cat /proc/${pid}/root/etc/hosts`);
    const addr = /^(\S+)\s+users\.internal$/m.exec(hosts)?.[1];
    assert.equal(addr, "172.17.0.1", hosts);
    assert.match(hosts, /^172\.17\.0\.1\s+users\.names\.internal$/m);
    // The container's network namespace, at the address its own hosts file gives (its image has no client).
    for (const name of ["users.internal", "users.names.internal"]) {
      assert.match(await faults.exec(m3, `nsenter -t ${pid} -n curl -sS --max-time 5 --resolve ${name}:80:${addr} http://${name}/`), /^hello from users-1 on m[12]$/);
    }
  });

  it("a placement change (users onto m3 too) and a scale change, under load: 0 failed requests; m3 then answers from its own instance", async () => {
    configure({ users: "users-1", box: true, everywhere: true });
    const d = await underLoad(["deploy", "users"]);
    ok(d.run, "deploy users on every machine");
    noFailures(d.load);
    const m3 = bed.machines[2]!;
    assert.match(await faults.exec(m3, "curl -sS --max-time 5 http://users.internal/"), /^hello from users-1 on m3$/, "local first");
    const sc = await underLoad(["scale", "users=5"]);
    ok(sc.run, "scale users=5");
    noFailures(sc.load);
    const back = await underLoad(["rollback", "users"]);
    ok(back.run, "rollback of the scale");
    noFailures(back.load);
    console.error(`placement: ${d.load.requests} requests; scale: ${sc.load.requests}; its rollback: ${back.load.requests}`);
  });

  it("removing an app takes its names away on every machine and leaves the others'", async () => {
    ok(await p.skiff(["remove", "box", "--yes"]), "remove box");
    for (const m of bed.machines) {
      const hosts = await faults.exec(m, "cat /etc/hosts");
      assert.doesNotMatch(hosts, /box\.(names\.)?internal/, `${m.name}: ${hosts}`);
      assert.match(hosts, /^127\.77\.0\.1 users\.internal users\.names\.internal$/m, m.name);
      assert.equal(await faults.exec(m, "getent hosts box.names.internal || echo none"), "none");
    }
  });
});
