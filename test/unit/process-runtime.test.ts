// The process runtime's pure parts, and the runtime itself on real processes in a
// temporary state directory (cgroups pointed at a temporary tree: limits are
// checked end to end in test/e2e/process.test.ts).
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { hashTree } from "../../src/contracts/artifact.ts";
import { parseMemory } from "../../src/config/duration.ts";
import { renderConfig } from "../../src/proxy/config.ts";
import { routeConflicts } from "../../src/proxy/model.ts";
import { createCgroup } from "../../src/runtime/cgroup.ts";
import { execPrefix, ProcessRuntime } from "../../src/runtime/process.ts";
import { bootId, liveProcess, processIdentity, processTable } from "../../src/runtime/procfs.ts";
import { appUserName } from "../../src/runtime/users.ts";
import { quote } from "../../src/lib/quote.ts";
import { INJECTION_CASES } from "./injection-cases.ts";

const tmp = () => mkdtempSync(join(tmpdir(), "skiff-unit-"));
// Instances run as users of their own (skiff_<project>_<app>) that the runtime makes on this machine: the
// ones these tests made go again.
const appUsers = () => readFileSync("/etc/passwd", "utf8").split("\n").map((l) => l.split(":")[0]!).filter((n) => /^skiff[-_]/.test(n));
const usersBefore = new Set(appUsers());
after(() => {
  for (const u of appUsers()) if (!usersBefore.has(u)) spawnSync("userdel", [u]);
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("process runtime", () => {
  it("memory sizes are binary, as Docker's", () => {
    assert.equal(parseMemory("256M"), 256 * 1024 ** 2);
    assert.equal(parseMemory("1.5G"), 1.5 * 1024 ** 3);
    assert.equal(parseMemory("512Mi"), 512 * 1024 ** 2);
    assert.equal(parseMemory("64k"), 64 * 1024);
    assert.equal(parseMemory(1000), 1000);
    assert.throws(() => parseMemory("lots"), /not a size/);
  });

  it("plain commands run with exec; shell constructs run as written", () => {
    assert.equal(execPrefix("node server.js"), "exec node server.js");
    assert.equal(execPrefix("python3 -m http.server $PORT"), "exec python3 -m http.server $PORT");
    for (const c of ["cd app && node x.js", "a; b", "a | b", "FOO=1 node x", "export A=1", "x > log", "exit 0", "ulimit -n 1024"]) assert.equal(execPrefix(c), c);
  });

  it("an artifact's hash covers content and the executable bit, and skips .git", () => {
    const a = tmp();
    writeFileSync(join(a, "server.js"), "x");
    mkdirSync(join(a, "lib"));
    writeFileSync(join(a, "lib", "y.js"), "y");
    const h1 = hashTree(a);
    mkdirSync(join(a, ".git"));
    writeFileSync(join(a, ".git", "HEAD"), "ref");
    assert.equal(hashTree(a), h1);
    chmodSync(join(a, "server.js"), 0o755);
    const h2 = hashTree(a);
    assert.notEqual(h2, h1);
    writeFileSync(join(a, "lib", "y.js"), "z");
    assert.notEqual(hashTree(a), h2);
  });

  it("cgroup v1 and v2 limits are written; without cgroups the instance says limits are not enforced", () => {
    const v1 = tmp();
    mkdirSync(join(v1, "memory"));
    writeFileSync(join(v1, "memory", "cgroup.procs"), "");
    mkdirSync(join(v1, "cpu"));
    writeFileSync(join(v1, "cpu", "cgroup.procs"), "");
    writeFileSync(join(v1, "cpu", "cpu.cfs_quota_us"), "-1");
    const g1 = createCgroup("i1", { memoryBytes: 64 * 1024 ** 2, cpus: 0.5 }, v1);
    assert.equal(readFileSync(join(v1, "memory", "skiff", "i1", "memory.limit_in_bytes"), "utf8"), String(64 * 1024 ** 2));
    assert.equal(readFileSync(join(v1, "cpu", "skiff", "i1", "cpu.cfs_quota_us"), "utf8"), "50000");
    assert.deepEqual([g1.memory, g1.cpu, g1.note], [true, true, undefined]);

    const v2 = tmp();
    writeFileSync(join(v2, "cgroup.controllers"), "cpu memory pids");
    writeFileSync(join(v2, "cgroup.subtree_control"), "");
    mkdirSync(join(v2, "skiff"));
    writeFileSync(join(v2, "skiff", "cgroup.controllers"), "cpu memory");
    writeFileSync(join(v2, "skiff", "cgroup.subtree_control"), "");
    const g2 = createCgroup("i2", { memoryBytes: 1024 ** 3 }, v2);
    assert.equal(readFileSync(join(v2, "skiff", "i2", "memory.max"), "utf8"), String(1024 ** 3));
    assert.deepEqual(g2.procs, [join(v2, "skiff", "i2", "cgroup.procs")]);

    const none = createCgroup("i3", { memoryBytes: 1 }, join(tmp(), "nothing"));
    assert.equal(none.memory, false);
    assert.match(none.note!, /limits not enforced/);
    assert.equal(createCgroup("i4", {}, join(tmp(), "nothing")).note, undefined, "no limits asked, nothing to say");
  });

  it("runs a command with PORT and HOST, keeps its output, records its exit code, reports its exit, and stops it with SIGTERM", async () => {
    const base = tmp();
    const rt = new ProcessRuntime(base);
    const exits: string[] = [];
    rt.watchExits((name) => exits.push(name));
    const labels = { "skiff.managed": "1", "skiff.project": "p", "skiff.app": "a", "skiff.release": "1" };
    process.env.SKIFF_CGROUP_ROOT = join(base, "no-cgroups");
    try {
      await rt.start({ name: "one", image: "none", command: 'echo "port=$PORT host=$HOST"; exit 4', containerPort: 3000, hostPort: 23456, bindAddress: "127.0.0.1", env: { A: "1" }, labels });
      await waitExit(rt, "one");
      await until(async () => exits.includes("one"), "the exit to be reported");
      const s = await rt.status("one");
      assert.deepEqual([s.exists, s.running, s.exitCode, s.oomKilled], [true, false, 4, false]);
      assert.equal(await rt.logs("one", 10), "port=23456 host=127.0.0.1");
      assert.deepEqual(await rt.list({ "skiff.app": "a" }), ["one"]);
      assert.ok(existsSync(join(base, "work", "p", "a", "1")), "a working directory per release");

      await rt.start({ name: "two", image: "none", command: "trap 'echo bye; exit 0' TERM; echo ready; while :; do sleep 0.05; done", containerPort: 3000, hostPort: 23457, bindAddress: "127.0.0.1", env: {}, labels });
      await until(async () => /ready/.test(await rt.logs("two", 5)), "the app to set its TERM trap");
      assert.equal((await rt.status("two")).running, true);
      await rt.stop("two", 5);
      const t = await rt.status("two");
      assert.deepEqual([t.running, t.exitCode], [false, 0]);
      await until(async () => exits.length === 2, "the second exit to be reported");
      assert.deepEqual(exits, ["one", "two"], "each wrapper's exit reported once, by name");
      assert.match(await rt.logs("two", 5), /bye/);

      await rt.remove("one");
      assert.deepEqual(await rt.list({ "skiff.app": "a" }), ["two"]);
    } finally {
      delete process.env.SKIFF_CGROUP_ROOT;
    }
  });
});

describe("routes on one machine", () => {
  it("two apps cannot serve the same host and path on the same port", () => {
    const state = { httpPort: 80, backends: [{ name: "skiff_a_web", routes: [{ path: "/" }, { host: "api.example.com", path: "/v1" }], healthPath: "/healthz", intervalMs: 1000, slots: [] }] };
    assert.deepEqual(routeConflicts(state, "skiff_b_web", [{ path: "/" }], undefined), [{ route: { path: "/" }, owner: "skiff_a_web" }]);
    assert.deepEqual(routeConflicts(state, "skiff_b_web", [{ host: "API.example.com", path: "/v1/" }], 80).length, 1);
    assert.deepEqual(routeConflicts(state, "skiff_b_web", [{ path: "/" }], 8080), [], "another port is another frontend");
    assert.deepEqual(routeConflicts(state, "skiff_b_web", [{ host: "b.example.com", path: "/" }], 80), [], "a host makes it distinct");
    assert.deepEqual(routeConflicts(state, "skiff_a_web", [{ path: "/" }], 80), [], "an app does not clash with itself");
  });
});

describe("HAProxy config with several http ports", () => {
  it("one frontend per port, each with only its apps' routes", () => {
    const slot = { name: "s1", addr: "127.0.0.1", port: 1, state: "maint" as const };
    const cfg = renderConfig(
      {
        httpPort: 80,
        backends: [
          { name: "skiff_a_web", routes: [{ path: "/" }], healthPath: "/healthz", intervalMs: 1000, slots: [slot] },
          { name: "skiff_b_web", routes: [{ path: "/" }], healthPath: "/healthz", intervalMs: 1000, httpPort: 8080, slots: [slot] },
        ],
      },
      { statsSocket: "/run/s.sock", pidFile: "/run/h.pid" },
    );
    const frontends = cfg.split("\n\n").filter((b) => b.startsWith("frontend"));
    assert.equal(frontends.length, 2);
    assert.match(frontends[0]!, /^frontend public\n  bind :80\n  http-request del-header x-skiff-hop\n  http-request del-header x-skiff-check\n  use_backend skiff_a_web\n/);
    assert.match(frontends[1]!, /^frontend public_8080\n  bind :8080\n  http-request del-header x-skiff-hop\n  http-request del-header x-skiff-check\n  use_backend skiff_b_web\n/);
    assert.match(renderConfig({ httpPort: 80, backends: [] }, { statsSocket: "/s", pidFile: "/p" }), /frontend public\n  bind :80\n  http-request del-header x-skiff-hop\n  http-request del-header x-skiff-check\n  default_backend skiff_no_route/);
  });
});

// ---- what an app can do to root, and to other apps, on its machine ----

const PROJECT = `ut${process.pid % 100000}`;
const labelsOf = (app: string, release = "1") => ({ "skiff.managed": "1", "skiff.project": PROJECT, "skiff.app": app, "skiff.release": release });
const fileStat = (p: string) => {
  const s = lstatSync(p);
  return { content: s.isFile() ? readFileSync(p, "utf8") : null, mode: (s.mode & 0o7777).toString(8), uid: s.uid, gid: s.gid, link: s.isSymbolicLink() };
};
/** Everything under a directory: names, contents, modes and owners, to compare before and after. */
function snapshot(dir: string): string {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const n of readdirSync(d).sort()) {
      const p = join(d, n);
      out.push(`${p} ${JSON.stringify(fileStat(p))}`);
      if (lstatSync(p).isDirectory()) walk(p);
    }
  };
  out.push(`${dir} ${JSON.stringify(fileStat(dir))}`);
  walk(dir);
  return out.join("\n");
}
/** Runs a shell command as the owner of `path`, there (what the app itself could do). An attacker moves aside what it cannot remove. */
function asOwnerOf(path: string, cmd: string): { code: number | null; out: string } {
  const { uid, gid } = statSync(path);
  const r = spawnSync("setpriv", [`--reuid=${uid}`, `--regid=${gid}`, "--clear-groups", "--", "sh", "-c", cmd], { cwd: path, encoding: "utf8" });
  return { code: r.status, out: (r.stdout + r.stderr).trim() };
}
/** Waits (up to 15 s: a loaded CI machine may take seconds to start a shell) until the instance ended. */
async function waitExit(rt: ProcessRuntime, name: string): Promise<void> {
  await until(async () => !(await rt.status(name)).running, `instance ${name} to end`);
}

describe("process runtime: root never follows a link the app planted", () => {
  /** A machine with root's secrets, and one app whose first instance ran (and planted links in its working directory). */
  async function machine(user: string | undefined) {
    const base = tmp();
    chmodSync(base, 0o755); // as /var/lib/skiff: apps may pass through to their own directories
    process.env.SKIFF_CGROUP_ROOT = join(base, "no-cgroups");
    const victims = join(base, "root-only");
    mkdirSync(join(victims, "dir", "data"), { recursive: true, mode: 0o700 });
    writeFileSync(join(victims, "secret"), "root's secret\n", { mode: 0o600 });
    writeFileSync(join(victims, "dir", "data", "keep"), "keep me\n", { mode: 0o600 });
    const before = snapshot(victims);
    const src = join(base, "release-files");
    mkdirSync(src, { mode: 0o700 });
    writeFileSync(join(src, "0"), "TOKEN=abc\n", { mode: 0o600 });
    const rt = new ProcessRuntime(base);
    const spec = (name: string, files: { path: string }[], volumes: { name: string; path: string }[]) => ({
      name, image: "none", command: "exit 0", user, containerPort: 3000, hostPort: 0, bindAddress: "127.0.0.1", env: {}, labels: labelsOf("a"),
      files: files.map((f) => ({ path: f.path, hostPath: join(src, "0"), mode: 0o640 })), volumes,
    });
    return { base, victims, before, rt, spec, workdir: join(base, "work", PROJECT, "a", "1") };
  }
  const users: (string | undefined)[] = [undefined, "nobody"];
  after(() => {
    delete process.env.SKIFF_CGROUP_ROOT;
  });

  for (const user of users) {
    const who = user ? `user: ${user}` : "the app's own user";
    it(`a link at a file's path is replaced, not followed (${who})`, async () => {
      const m = await machine(user);
      const files = [{ path: "config/app.env" }];
      await m.rt.start(m.spec("i1", files, []));
      await waitExit(m.rt, "i1");
      const planted = asOwnerOf(m.workdir, `mv config .old && mkdir config && ln -s ${m.victims}/secret config/app.env`);
      assert.equal(planted.code, 0, planted.out);
      await m.rt.restart("i1");
      await waitExit(m.rt, "i1");
      await m.rt.start(m.spec("i2", files, [])); // a second instance, a scale, a rollback or a hook of the same release
      await waitExit(m.rt, "i2");
      assert.equal(snapshot(m.victims), m.before, "root's files are unchanged");
      const placed = fileStat(join(m.workdir, "config/app.env"));
      assert.deepEqual([placed.link, placed.content, placed.mode, placed.uid], [false, "TOKEN=abc\n", "640", statSync(m.workdir).uid]);
    });

    it(`a linked parent directory is not written through (${who})`, async () => {
      const m = await machine(user);
      const files = [{ path: "config/nested/app.env" }];
      await m.rt.start(m.spec("i1", files, []));
      await waitExit(m.rt, "i1");
      const planted = asOwnerOf(m.workdir, `mv config .old && ln -s ${m.victims} config`);
      assert.equal(planted.code, 0, planted.out);
      const second = await m.rt.start(m.spec("i2", files, [])).then(() => "started", (e: Error) => e.message);
      assert.equal(snapshot(m.victims), m.before, "root's files are unchanged");
      assert.match(second, /cannot place config\/nested\/app\.env .*Permission denied/);
    });

    it(`a link at a volume's path or its parent is neither emptied nor written through (${who})`, async () => {
      const m = await machine(user);
      const volumes = [{ name: "cache", path: "cache" }, { name: "data", path: "var/data" }];
      await m.rt.start(m.spec("i1", [], volumes));
      await waitExit(m.rt, "i1");
      const planted = asOwnerOf(m.workdir, `rm -f cache && ln -s ${m.victims}/dir cache && mv var .old-var && ln -s ${m.victims}/dir var`);
      assert.equal(planted.code, 0, planted.out);
      const second = await m.rt.start(m.spec("i2", [], volumes)).then(() => "started", (e: Error) => e.message);
      assert.equal(snapshot(m.victims), m.before, "root's files are unchanged");
      assert.match(second, /cannot link volume data at var\/data .*Permission denied/);
      // Only the parent was the problem: with it gone, the volume link at "cache" is put back.
      asOwnerOf(m.workdir, "rm -f var");
      await m.rt.start(m.spec("i3", [], volumes));
      assert.equal(readlinkSync(join(m.workdir, "cache")), join(m.base, "volumes", PROJECT, "a", "cache"));
      assert.equal(snapshot(m.victims), m.before, "root's files are unchanged");
    });
  }
});

describe("process runtime: each app runs as its own user", () => {
  after(() => {
    delete process.env.SKIFF_CGROUP_ROOT;
  });

  it("the default user is made per app; apps cannot read each other's environment or write each other's directories", async () => {
    const base = tmp();
    chmodSync(base, 0o755); // as /var/lib/skiff
    process.env.SKIFF_CGROUP_ROOT = join(base, "no-cgroups");
    const rt = new ProcessRuntime(base);
    const start = (app: string, secret: string) =>
      rt.start({ name: app, image: "none", command: 'id -un > "$HOME/whoami"; exec sleep 30', containerPort: 3000, hostPort: 0, bindAddress: "127.0.0.1", env: { SECRET: secret }, labels: labelsOf(app), files: [] });
    await start("a", "secret-of-a");
    await start("b", "secret-of-b");
    try {
      const wa = join(base, "work", PROJECT, "a", "1");
      const wb = join(base, "work", PROJECT, "b", "1");
      const said = (w: string) => (existsSync(join(w, "whoami")) ? readFileSync(join(w, "whoami"), "utf8") : "");
      await until(async () => said(wa).endsWith("\n") && said(wb).endsWith("\n"), "both apps to say who they are");
      assert.equal(readFileSync(join(wa, "whoami"), "utf8").trim(), `skiff_${PROJECT}_a`);
      assert.equal(readFileSync(join(wb, "whoami"), "utf8").trim(), `skiff_${PROJECT}_b`);
      assert.notEqual(statSync(wa).uid, statSync(wb).uid);
      assert.notEqual(statSync(wa).uid, 0);
      // b's app process (the wrapper's child) and its environment
      const wrapperB = Number(readFileSync(join(base, "instances", "b", "pid"), "utf8").split(" ")[0]);
      const appB = processTable().find((p) => p.ppid === wrapperB)?.pid;
      assert.ok(appB, "b's app process");
      assert.match(asOwnerOf(wb, `tr '\\0' '\\n' < /proc/${appB}/environ`).out, /SECRET=secret-of-b/, "b reads its own environment");
      const peek = asOwnerOf(wa, `tr '\\0' '\\n' < /proc/${appB}/environ`);
      assert.notEqual(peek.code, 0, "a cannot read b's environment");
      assert.doesNotMatch(peek.out, /secret-of-b/);
      assert.notEqual(asOwnerOf(wa, `touch ${wb}/pwned`).code, 0, "a cannot write b's working directory");
      assert.notEqual(asOwnerOf(wa, `ls ${wb}`).code, 0, "nor list it");
      // What root keeps about an instance (its env, its log) stays root's.
      assert.equal(fileStat(join(base, "instances", "b")).mode, "700");
      assert.equal(fileStat(join(base, "instances", "b", "instance.json")).mode, "600");
    } finally {
      await rt.stop("a", 1);
      await rt.stop("b", 1);
    }
  });

  it("a volume or working directory made for another user (nobody, or an older name of the app's user) is handed over; what that user did not own stays", async () => {
    const base = tmp();
    chmodSync(base, 0o755);
    process.env.SKIFF_CGROUP_ROOT = join(base, "no-cgroups");
    const vol = join(base, "volumes", PROJECT, "v", "data");
    mkdirSync(join(vol, "sub"), { recursive: true, mode: 0o750 });
    writeFileSync(join(vol, "sub", "f"), "x");
    writeFileSync(join(vol, "roots"), "r");
    spawnSync("chown", ["-R", "nobody:nogroup", vol]);
    spawnSync("chown", ["root:root", join(vol, "roots")]);
    // The release's working directory, too (made under an older agent's name for the app's user).
    const work = join(base, "work", PROJECT, "v", "1");
    mkdirSync(work, { recursive: true });
    writeFileSync(join(work, "f"), "x");
    spawnSync("chown", ["-R", "nobody:nogroup", work]);
    const rt = new ProcessRuntime(base);
    await rt.start({ name: "v", image: "none", command: "true", containerPort: 3000, hostPort: 0, bindAddress: "127.0.0.1", env: {}, labels: labelsOf("v"), volumes: [{ name: "data", path: "data" }] });
    await waitExit(rt, "v");
    const uid = Number(spawnSync("id", ["-u", appUserName(PROJECT, "v")], { encoding: "utf8" }).stdout.trim());
    assert.notEqual(uid, statSync("/proc/self").uid);
    assert.deepEqual([vol, join(vol, "sub"), join(vol, "sub", "f"), join(vol, "roots"), work, join(work, "f")].map((p) => statSync(p).uid), [uid, uid, uid, 0, uid, uid]);
  });

  it("user: in skiff.yml wins (root included); long names get a short hash within 32 characters", async () => {
    const base = tmp();
    chmodSync(base, 0o755);
    process.env.SKIFF_CGROUP_ROOT = join(base, "no-cgroups");
    const rt = new ProcessRuntime(base);
    for (const user of ["nobody", "root"]) {
      await rt.start({ name: user, image: "none", command: 'id -un > "$HOME/whoami"', user, containerPort: 3000, hostPort: 0, bindAddress: "127.0.0.1", env: {}, labels: labelsOf(user), files: [] });
      await waitExit(rt, user);
      assert.equal(readFileSync(join(base, "work", PROJECT, user, "1", "whoami"), "utf8").trim(), user);
    }
    const long = appUserName("a-rather-long-project-name", "and-a-long-app-name");
    assert.ok(long.length <= 32 && /^skiff_[a-z0-9-]+__[0-9a-f]{10}$/.test(long), long);
    assert.notEqual(long, appUserName("a-rather-long-project-name", "and-a-long-app-namf"));
    assert.equal(appUserName("shop", "web"), "skiff_shop_web");
  });
});

describe("process runtime: the app's environment reaches only the app", () => {
  after(() => {
    delete process.env.SKIFF_CGROUP_ROOT;
  });
  const machine = () => {
    const base = tmp();
    chmodSync(base, 0o755); // as /var/lib/skiff
    process.env.SKIFF_CGROUP_ROOT = join(base, "no-cgroups");
    return { base, rt: new ProcessRuntime(base), pwned: join(base, "pwned") };
  };
  const spec = (name: string, app: string, command: string, env: Record<string, string>, user?: string) =>
    ({ name, image: "none", command, user, containerPort: 3000, hostPort: 0, bindAddress: "127.0.0.1", env, labels: labelsOf(app), files: [] });

  for (const user of [undefined, "root"]) {
    const who = user ? `user: ${user}` : "the app's own user";
    it(`root's wrapper runs none of the app's programs through the app's PATH (${who})`, async () => {
      const m = machine();
      // The app puts its own mv, rm, cat, setpriv and sh in bin/ (its working directory) and exits; each one, run as
      // root, leaves a mark where the app cannot write.
      const fake = `#!/bin/sh\n[ "$(id -u)" = 0 ] && echo "$0" >> ${m.pwned}\nexit 0\n`;
      const plant = `mkdir -p bin && for p in mv rm cat setpriv sh env chmod; do printf '%s' ${quote(fake)} > bin/$p && /bin/chmod 755 bin/$p; done; exit 3`;
      const app = `path${user ?? ""}`;
      await m.rt.start(spec("p1", app, plant, { PATH: "bin:/usr/bin:/bin" }, user));
      await waitExit(m.rt, "p1");
      await m.rt.restart("p1");
      await waitExit(m.rt, "p1");
      assert.equal(existsSync(m.pwned) ? readFileSync(m.pwned, "utf8") : "", "", "no program of the app ran as root");
      assert.equal((await m.rt.status("p1")).exitCode, 3, "the wrapper still records the app's exit code");
    });

    it(`root's wrapper loads none of the app's LD_PRELOAD (${who})`, async (t) => {
      const m = machine();
      const cc = spawnSync("cc", ["--version"]);
      if (cc.status !== 0) return t.skip("no C compiler to build the preloaded library");
      // A library that, loaded into a process running as root, leaves a mark where the app cannot write.
      const lib = join(m.base, "evil.so");
      const src = join(m.base, "evil.c");
      writeFileSync(src, `#include <fcntl.h>\n#include <unistd.h>\n__attribute__((constructor)) static void mark(void) { if (geteuid() == 0) { int fd = open("${m.pwned}", O_WRONLY | O_CREAT | O_APPEND, 0644); if (fd >= 0) { write(fd, "x", 1); close(fd); } } }\n`);
      const built = spawnSync("cc", ["-shared", "-fPIC", "-o", lib, src], { encoding: "utf8" });
      assert.equal(built.status, 0, built.stderr);
      chmodSync(lib, 0o755);
      const app = `ld${user ?? ""}`;
      await m.rt.start(spec("l1", app, user ? 'test -n "$LD_PRELOAD"; exit $?' : "exit 0", { LD_PRELOAD: lib, LD_LIBRARY_PATH: "lib" }, user));
      await waitExit(m.rt, "l1");
      await m.rt.restart("l1");
      await waitExit(m.rt, "l1");
      const marks = existsSync(m.pwned) ? readFileSync(m.pwned, "utf8").length : 0;
      // An app that runs as root loads it itself (its env is its own), once per start; the wrapper never does.
      assert.equal(marks, user === "root" ? 2 : 0, `processes running as root loaded the app's library ${marks} times`);
      assert.equal((await m.rt.status("l1")).exitCode, 0, "the app got its LD_PRELOAD");
    });
  }

  it("env values reach the app byte-exact, and no value is in any process's command line", async () => {
    const m = machine();
    const env: Record<string, string> = {};
    INJECTION_CASES.forEach((v, i) => (env[`V${i}`] = v));
    env.CANARY = "canary-in-argv-7d1f";
    await m.rt.start(spec("e1", "env", '/usr/bin/env -0 > "$HOME/env"; echo ready; exec sleep 30', env));
    try {
      const log = await until(async () => /ready/.test(await m.rt.logs("e1", 5)), "the app to write its env");
      assert.ok(log);
      const w = join(m.base, "work", PROJECT, "env", "1");
      const got = Object.fromEntries(readFileSync(join(w, "env"), "utf8").split("\0").filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]));
      for (const [k, v] of Object.entries(env)) assert.equal(got[k], v, k);
      const argvs = readdirSync("/proc").filter((d) => /^\d+$/.test(d)).map((d) => {
        try {
          return readFileSync(`/proc/${d}/cmdline`, "utf8");
        } catch {
          return "";
        }
      });
      assert.deepEqual(argvs.filter((a) => a.includes("canary-in-argv-7d1f")), []);
    } finally {
      await m.rt.stop("e1", 1);
    }
  });
});

describe("process runtime: app users are unambiguous and marked", () => {
  it("two projects whose names join the same way get different users", () => {
    assert.notEqual(appUserName("shop", "api-web"), appUserName("shop-api", "web"));
    for (const [p, a] of [["shop", "web"], ["a-rather-long-project-name", "and-a-long-app-name"], ["p".repeat(63), "a".repeat(63)]]) {
      const n = appUserName(p!, a!);
      assert.ok(n.length <= 32 && /^[a-z_][a-z0-9_-]*$/.test(n), n);
    }
    assert.notEqual(appUserName("a-rather-long-project-name", "and-a-long-app-name"), appUserName("a-rather-long-project-name", "and-a-long-app-namf"));
  });

  it("an existing account that is not skiff's user for this app is refused, by name", async () => {
    const base = tmp();
    chmodSync(base, 0o755);
    process.env.SKIFF_CGROUP_ROOT = join(base, "no-cgroups");
    const rt = new ProcessRuntime(base);
    try {
      const name = appUserName(PROJECT, "taken");
      const made = spawnSync("useradd", ["--system", "--no-create-home", "--comment", "someone else", name], { encoding: "utf8" });
      assert.equal(made.status, 0, made.stderr);
      const err = await rt.start({ name: "taken", image: "none", command: "exit 0", containerPort: 3000, hostPort: 0, bindAddress: "127.0.0.1", env: {}, labels: labelsOf("taken"), files: [] }).then(() => "started", (e: Error) => e.message);
      assert.match(err, new RegExp(`user ${name} .*not skiff's user for app taken of project ${PROJECT}`));
      // Two apps whose names would have joined the same way run as two users.
      await rt.start({ name: "c1", image: "none", command: 'id -u > "$HOME/uid"', containerPort: 3000, hostPort: 0, bindAddress: "127.0.0.1", env: {}, labels: { ...labelsOf("x-y"), "skiff.project": PROJECT }, files: [] });
      await rt.start({ name: "c2", image: "none", command: 'id -u > "$HOME/uid"', containerPort: 3000, hostPort: 0, bindAddress: "127.0.0.1", env: {}, labels: { ...labelsOf("y"), "skiff.project": `${PROJECT}-x` }, files: [] });
      await waitExit(rt, "c1");
      await waitExit(rt, "c2");
      assert.notEqual(statSync(join(base, "work", PROJECT, "x-y", "1")).uid, statSync(join(base, "work", `${PROJECT}-x`, "y", "1")).uid);
    } finally {
      delete process.env.SKIFF_CGROUP_ROOT;
    }
  });
});

/** Polls `check` until it holds, for up to `ms` (a loaded CI machine may take seconds to start a shell). */
async function until<T>(check: () => Promise<T | undefined | false>, what: string, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what} after ${ms} ms`);
    await sleep(50);
  }
}

/** Live (not zombie) processes of a process group, and what each runs. */
function groupMembers(pgid: number): { pid: number; comm: string }[] {
  return processTable().filter((p) => p.live && p.pgid === pgid).map((p) => ({ pid: p.pid, comm: readFileSync(`/proc/${p.pid}/comm`, "utf8").trim() }));
}

describe("process runtime: a reused pid is not the instance", () => {
  it("a process is named by pid, start time and boot: the same pid and start time in another boot are not it", () => {
    const me = processIdentity(process.pid);
    assert.equal(me.split(" ").length, 3);
    assert.equal(liveProcess(me), process.pid);
    const [pid, start] = me.split(" ");
    const otherBoot = bootId().replace(/^./, (c) => (c === "0" ? "1" : "0"));
    assert.equal(liveProcess(`${pid} ${start} ${otherBoot}`), undefined);
    assert.equal(liveProcess(`${pid} ${Number(start) + 1} ${bootId()}`), undefined);
  });

  it("a stop sends TERM once (some apps take a second one as: quit now)", async () => {
    const base = tmp();
    process.env.SKIFF_CGROUP_ROOT = join(base, "no-cgroups");
    const rt = new ProcessRuntime(base);
    try {
      await rt.start({ name: "t", image: "none", command: 'n=0; trap \'n=$((n+1)); echo "term $n"\' TERM; echo ready; while [ $n -lt 1 ]; do sleep 0.05; done; sleep 0.5; echo "done $n"', user: "root", containerPort: 3000, hostPort: 0, bindAddress: "127.0.0.1", env: {}, labels: labelsOf("t"), files: [] });
      await until(async () => /ready/.test(await rt.logs("t", 5)), "the app to set its TERM trap");
      await rt.stop("t", 5);
      const log = await rt.logs("t", 10);
      assert.match(log, /^term 1\ndone 1$/m);
      assert.doesNotMatch(log, /term 2/);
    } finally {
      delete process.env.SKIFF_CGROUP_ROOT;
    }
  });

  // The kernel gives a finished wrapper's pid to another process, which leads a group of its own: while the
  // leader lives, and after it left its group behind.
  for (const [what, script] of [["leads", "sleep 30 & wait"], ["led", "sleep 30 & exit 0"]] as const) {
    it(`status and stop leave alone a process group that ${what} by a process with the instance's old pid`, async () => {
      const base = tmp();
      process.env.SKIFF_CGROUP_ROOT = join(base, "no-cgroups");
      const rt = new ProcessRuntime(base);
      const stranger = spawn("sh", ["-c", script], { detached: true, stdio: "ignore" });
      const pgid = stranger.pid!;
      const strangerStart = processIdentity(pgid).split(" ")[1];
      // Start times count in clock ticks (10 ms): a wrapper started in the stranger's tick would carry its identity
      // exactly (a loaded host did that), and the old pid would then be the instance after all.
      await sleep(30);
      try {
        await rt.start({ name: "gone", image: "none", command: "exit 0", user: "root", containerPort: 3000, hostPort: 0, bindAddress: "127.0.0.1", env: {}, labels: labelsOf("r"), files: [] });
        await waitExit(rt, "gone");
        // Settled: the stranger's sleep runs, and its sh waits (leads) or is gone (led).
        const settled = what === "leads" ? ["sh", "sleep"] : ["sleep"];
        const members = await until(async () => {
          const m = groupMembers(pgid);
          return JSON.stringify(m.map((p) => p.comm).sort()) === JSON.stringify(settled) && m;
        }, `the stranger's group to be ${settled.join(" and ")}`);
        const pidFile = join(base, "instances", "gone", "pid");
        const [, ...identity] = readFileSync(pidFile, "utf8").trim().split(" ");
        assert.notEqual(identity[0], strangerStart, "the wrapper started in a later clock tick than the stranger");
        writeFileSync(pidFile, `${[pgid, ...identity].join(" ")}\n`);
        const s = await rt.status("gone");
        assert.deepEqual([s.running, s.exitCode], [false, 0]);
        await rt.stop("gone", 1);
        await rt.remove("gone");
        await sleep(100); // a signal, had one been sent, has arrived
        assert.deepEqual(groupMembers(pgid), members, "the stranger's group still runs");
      } finally {
        try {
          process.kill(-pgid, "SIGKILL");
        } catch {}
        delete process.env.SKIFF_CGROUP_ROOT;
      }
    });
  }
});

describe("process runtime: out.log rotation", () => {
  it("copy, then truncate: what the app writes during the copy goes to the copy too, nothing is lost or doubled", async () => {
    const { copyTruncate } = await import("../../src/runtime/process.ts");
    const { appendFileSync, copyFileSync } = await import("node:fs");
    const dir = mkdtempSync(join(tmpdir(), "skiff-rotate-"));
    const log = join(dir, "out.log");
    writeFileSync(log, "one\ntwo\n");
    // The app writes while the kernel copies.
    let writes = 0;
    await copyTruncate(log, `${log}.1`, async (from, to) => {
      copyFileSync(from, to);
      appendFileSync(log, "three, during the copy\n");
      writes++;
    });
    assert.equal(writes, 1);
    assert.equal(readFileSync(`${log}.1`, "utf8"), "one\ntwo\nthree, during the copy\n");
    assert.equal(readFileSync(log, "utf8"), "");
    assert.equal(statSync(`${log}.1`).mode & 0o777, 0o640);
    // A large file (several catch-up buffers) is copied whole.
    const big = Buffer.alloc(3 * 1024 * 1024 + 17, "x");
    writeFileSync(log, "head\n");
    await copyTruncate(log, `${log}.1`, async (from, to) => {
      copyFileSync(from, to);
      appendFileSync(log, big);
    });
    assert.equal(statSync(`${log}.1`).size, 5 + big.length);
    assert.equal(statSync(log).size, 0);
  });
});
