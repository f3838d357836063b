// Releases of one artifact share its files: the runtime on real processes in a
// temporary state directory, as root, with the app's own user. Each release's
// working directory holds hard links to the one unpacked copy (root's, read-only
// to the app) and files of its own; removing a release or the artifact leaves
// the others running.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { hashTree } from "../../src/contracts/artifact.ts";
import { ProcessRuntime } from "../../src/runtime/process.ts";

const PROJECT = `us${process.pid % 100000}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const appUsers = () => readFileSync("/etc/passwd", "utf8").split("\n").map((l) => l.split(":")[0]!).filter((n) => /^skiff[-_]/.test(n));
const usersBefore = new Set(appUsers());
after(() => {
  for (const u of appUsers()) if (!usersBefore.has(u)) spawnSync("userdel", [u]);
  delete process.env.SKIFF_CGROUP_ROOT;
});

/** A shell command as the owner of `path`, there (what the app itself could do). */
function asOwnerOf(path: string, cmd: string): { code: number | null; out: string } {
  const { uid, gid } = statSync(path);
  const r = spawnSync("setpriv", [`--reuid=${uid}`, `--regid=${gid}`, "--clear-groups", "--", "sh", "-c", cmd], { cwd: path, encoding: "utf8" });
  return { code: r.status, out: (r.stdout + r.stderr).trim() };
}

/** A machine's state directory with one artifact unpacked as artifact-put leaves it (root's, modes as packed). */
function machine() {
  const base = mkdtempSync(join(tmpdir(), "skiff-share-"));
  chmodSync(base, 0o755); // as /var/lib/skiff
  process.env.SKIFF_CGROUP_ROOT = join(base, "no-cgroups");
  const src = join(base, "src");
  mkdirSync(join(src, "lib", "deep"), { recursive: true });
  writeFileSync(join(src, "server.js"), "server\n");
  writeFileSync(join(src, "lib", "deep", "mod.js"), "mod\n", { mode: 0o600 });
  writeFileSync(join(src, "tool"), "#!/bin/sh\n", { mode: 0o755 });
  chmodSync(join(src, "tool"), 0o4757); // setuid and world-writable as packed: neither may reach the app
  const hash = hashTree(src);
  mkdirSync(join(base, "artifacts"), { mode: 0o700 });
  renameSync(src, join(base, "artifacts", hash));
  writeFileSync(join(base, "app.env"), "TOKEN=abc\n", { mode: 0o600 });
  const rt = new ProcessRuntime(base);
  const start = (name: string, release: string) =>
    rt.start({
      name, image: `artifact:${hash}`, command: "exec sleep 30", containerPort: 3000, hostPort: 0, bindAddress: "127.0.0.1", env: {},
      labels: { "skiff.managed": "1", "skiff.project": PROJECT, "skiff.app": "web", "skiff.release": release },
      files: [{ path: "config/app.env", hostPath: join(base, "app.env"), mode: 0o600 }],
    });
  return { base, hash, rt, start, artifact: join(base, "artifacts", hash), work: (r: string) => join(base, "work", PROJECT, "web", r) };
}

describe("process runtime: releases of one artifact share its files", () => {
  it("hard links to the one root-owned copy, directories and placed files of the app's own", async () => {
    const m = machine();
    await m.start("i1", "1");
    await m.start("i2", "2");
    try {
      const [w1, w2] = [m.work("1"), m.work("2")];
      const uid = statSync(w1).uid;
      assert.notEqual(uid, 0);
      for (const f of ["server.js", "lib/deep/mod.js", "tool"]) {
        const [a, r1, r2] = [statSync(join(m.artifact, f)), statSync(join(w1, f)), statSync(join(w2, f))];
        assert.equal(r1.ino, a.ino, `${f}: release 1 shares the artifact's inode`);
        assert.equal(r2.ino, a.ino, `${f}: release 2 shares the artifact's inode`);
        assert.equal(a.nlink, 3);
        assert.equal(a.uid, 0, `${f} stays root's`);
      }
      assert.equal((statSync(join(w1, "tool")).mode & 0o7777).toString(8), "755", "no setuid, not writable by others");
      assert.equal((statSync(join(w1, "lib/deep/mod.js")).mode & 0o7777).toString(8), "644", "readable by the app");
      assert.deepEqual([w1, join(w1, "lib"), join(w1, "lib/deep")].map((d) => statSync(d).uid), [uid, uid, uid]);
      assert.equal((statSync(w1).mode & 0o777).toString(8), "750");
      // Per release: the placed file is the app's, 0600, its own inode.
      const placed = [w1, w2].map((w) => lstatSync(join(w, "config/app.env")));
      assert.deepEqual(placed.map((p) => [p.uid, (p.mode & 0o777).toString(8), p.nlink]), [[uid, "600", 1], [uid, "600", 1]]);
      assert.notEqual(placed[0]!.ino, placed[1]!.ino);

      // The app reads its code, cannot change the shared copy, and may still replace a file in its own release.
      assert.equal(asOwnerOf(w1, "cat server.js lib/deep/mod.js").out, "server\nmod");
      assert.notEqual(asOwnerOf(w1, "echo pwned >> server.js").code, 0, "the shared file is read-only to the app");
      assert.notEqual(asOwnerOf(w1, "chmod 666 server.js").code, 0);
      const replaced = asOwnerOf(w1, "echo mine > .new && mv -f .new server.js && cat server.js");
      assert.deepEqual([replaced.code, replaced.out], [0, "mine"]);
      assert.equal(readFileSync(join(w2, "server.js"), "utf8"), "server\n", "release 2 is untouched");
      assert.equal(readFileSync(join(m.artifact, "server.js"), "utf8"), "server\n", "the artifact is untouched");
      assert.equal(hashTree(m.artifact), m.hash);

      // Disk: the second release adds its directories and own files, not the artifact's bytes.
      const du = (p: string[]) => Number(spawnSync("du", ["-s", "-B1", ...p], { encoding: "utf8" }).stdout.trim().split("\n").at(-1)!.split("\t")[0]);
      const inodes = (p: string) => Number(spawnSync("du", ["-s", "--inodes", p], { encoding: "utf8" }).stdout.split("\t")[0]);
      assert.ok(inodes(join(m.base, "work")) < inodes(m.artifact) * 2 + 2 * 3, "links take no inode of their own");
      assert.ok(du([m.artifact, w2]) - du([m.artifact]) <= du([w2]), JSON.stringify([du([m.artifact, w2]), du([m.artifact]), du([w2])]));
    } finally {
      await m.rt.stop("i1", 1);
      await m.rt.stop("i2", 1);
    }
  });

  it("dropping a release or the artifact leaves the other release whole; a new release needs the artifact again", async () => {
    const m = machine();
    await m.start("i1", "1");
    await m.start("i2", "2");
    try {
      await m.rt.stop("i1", 1);
      await m.rt.remove("i1");
      await m.rt.dropRelease(PROJECT, "web", 1);
      assert.equal(statSync(join(m.artifact, "server.js")).nlink, 2);
      await m.rt.removeImage(`artifact:${m.hash}`);
      assert.equal(await m.rt.hasImage(`artifact:${m.hash}`), false);
      assert.equal(readFileSync(join(m.work("2"), "lib/deep/mod.js"), "utf8"), "mod\n");
      assert.equal((await m.rt.status("i2")).running, true);
      await m.rt.restart("i2");
      await assert.rejects(m.start("i3", "3"), /is not on this machine/);
    } finally {
      await m.rt.stop("i2", 1);
      await sleep(10);
    }
  });
});
