// The checked-project cache (the user's ~/.cache/skiff/projects): a hit gives the project the full load gives;
// any change of the file's text, its path, the environment or the skiff build misses; a damaged or foreign cache
// file is a miss, never an error, and so is one in a folder others can write; a bad config is never cached; and
// no build (an unbundled run) means no cache at all.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { loadProjectCached } from "../../src/config/cached-load.ts";
import { loadProject } from "../../src/config/load.ts";
import type { Project } from "../../src/config/model.ts";
import { cacheKey, cachePath, readCachedProject, writeCachedProject, type CacheInput } from "../../src/config/project-cache.ts";
import { UserError } from "../../src/errors.ts";

const YML = `project: shop
machines:
  m1: { host: 10.0.0.1, labels: [web] }
  m2: { host: 10.0.0.2, port: 2222, ssh: { options: { ConnectTimeout: 5 } } }
env: { LEVEL: info }
apps:
  web:
    image: nginx:1.27
    port: 8080
    routes: [{ host: shop.example.com }]
    files: { /etc/app.conf: conf/app.conf }
    secrets: [DB_PASSWORD]
    deploy: { max_parallel: 25%, canary_wait: 5s }
environments:
  staging:
    machines:
      s1: { host: 10.0.1.1 }
`;
const BUILD = "0.1.0+0123456789abcdef";

/** A cache folder of its own for each test (not made yet: the first write makes it). */
const cacheDir = () => join(mkdtempSync(join(tmpdir(), "skiff-pcache-home-")), "skiff", "projects");

function projectDir(text = YML): { dir: string; file: string } {
  const dir = mkdtempSync(join(tmpdir(), "skiff-pcache-"));
  writeFileSync(join(dir, "skiff.yml"), text);
  return { dir, file: join(dir, "skiff.yml") };
}

/** Equal as skiff uses a project: JSON (a key holding undefined and a missing key are the same there). */
const asData = (p: Project) => JSON.parse(JSON.stringify(p)) as unknown;

describe("project cache", () => {
  it("a hit is the project the full load gives, with maps that find no Object property", async () => {
    for (const environment of [undefined, "staging"]) {
      const { file } = projectDir();
      const cache = { build: BUILD, dir: cacheDir() };
      const fresh = loadProject({ file, environment });
      const first = await loadProjectCached({ file, environment }, cache);
      assert.deepEqual(asData(first), asData(fresh));
      assert.ok(readCachedProject({ text: YML, file, environment, ...cache }), "the first load stored the project");
      const second = await loadProjectCached({ file, environment }, cache);
      assert.deepEqual(asData(second), asData(fresh));
      assert.equal(second.file, file);
      assert.equal(second.environment, environment);
      assert.equal(second.machines["constructor"], undefined);
      assert.equal(second.apps["toString"], undefined);
    }
  });

  it("a hit skips the check: a stored project under the right key is what comes back", async () => {
    const { file } = projectDir();
    const cache = { build: BUILD, dir: cacheDir() };
    const input: CacheInput = { text: YML, file, ...cache };
    const stored = loadProject({ file });
    writeCachedProject(input, { ...stored, name: "from-the-cache" });
    assert.equal((await loadProjectCached({ file }, cache)).name, "from-the-cache");
  });

  it("any change of the text, the environment, the build or the file's path misses", async () => {
    const { dir, file } = projectDir();
    const base: CacheInput = { text: YML, file, build: BUILD, dir: cacheDir() };
    writeCachedProject(base, loadProject({ file }));
    assert.ok(readCachedProject(base));
    assert.equal(readCachedProject({ ...base, text: YML + " " }), undefined, "one byte more");
    assert.equal(readCachedProject({ ...base, text: YML.replace("8080", "8081") }), undefined);
    assert.equal(readCachedProject({ ...base, environment: "staging" }), undefined);
    assert.equal(readCachedProject({ ...base, build: "0.1.0+fedcba9876543210" }), undefined, "another skiff source");
    assert.equal(readCachedProject({ ...base, build: "0.2.0+0123456789abcdef" }), undefined, "another version");
    mkdirSync(join(dir, "moved"));
    const moved = join(dir, "moved", "skiff.yml");
    writeFileSync(moved, YML);
    assert.equal(readCachedProject({ ...base, file: moved }), undefined, "paths in the project resolve from the file");
    // The keys themselves differ for each part, so a file written for one input never answers another.
    const keys = new Set([base, { ...base, text: YML + " " }, { ...base, environment: "staging" }, { ...base, build: "x" }, { ...base, file: moved }].map(cacheKey));
    assert.equal(keys.size, 5);
  });

  it("an edited skiff.yml is loaded afresh and its new problems are reported, not a stale project", async () => {
    const { file } = projectDir();
    const cache = { build: BUILD, dir: cacheDir() };
    await loadProjectCached({ file }, cache);
    writeFileSync(file, YML.replace("port: 8080", "port: 8081"));
    assert.equal((await loadProjectCached({ file }, cache)).apps["web"]!.port, 8081);
    writeFileSync(file, YML.replace("port: 8080", "port: eighty"));
    await assert.rejects(loadProjectCached({ file }, cache), (e: unknown) => e instanceof UserError && /1 problem/.test(e.message));
    // Put back: the first text's project was overwritten by the second's, so this loads (and checks) again.
    writeFileSync(file, YML);
    assert.equal((await loadProjectCached({ file }, cache)).apps["web"]!.port, 8080);
  });

  it("a damaged or foreign cache file is a miss, never an error", async () => {
    const { file } = projectDir();
    const cache = { build: BUILD, dir: cacheDir() };
    const input: CacheInput = { text: YML, file, ...cache };
    const good = loadProject({ file });
    writeCachedProject(input, good);
    const path = cachePath(input);
    const whole = readFileSync(path, "utf8");
    const key = cacheKey(input);
    const bad: [string, string][] = [
      ["torn", whole.slice(0, whole.length / 2)],
      ["empty", ""],
      ["not JSON", "\u0000\u0001garbage"],
      ["another key", whole.replace(key, "0".repeat(64))],
      ["no project", JSON.stringify({ key })],
      ["a list", JSON.stringify([key])],
      ["machines not a map", JSON.stringify({ key, project: { ...asDataObject(good), machines: [] } })],
      ["a machine under another name", JSON.stringify({ key, project: { ...asDataObject(good), machines: { m1: { name: "m9" } } } })],
      ["no recipients", JSON.stringify({ key, project: { ...asDataObject(good), secrets: {} } })],
    ];
    for (const [what, text] of bad) {
      writeFileSync(path, text);
      assert.equal(readCachedProject(input), undefined, what);
      const loaded = await loadProjectCached({ file }, cache);
      assert.deepEqual(asData(loaded), asData(good), what);
      assert.ok(readCachedProject(input), `${what}: replaced by a good one`);
    }
    // A directory where the file should be: read misses, write gives up quietly, the load still works.
    renameSync(path, `${path}.moved`);
    mkdirSync(path);
    assert.equal(readCachedProject(input), undefined);
    assert.deepEqual(asData(await loadProjectCached({ file }, cache)), asData(good));
  });

  it("a cache folder that cannot be made (a file in its way) costs only the check", async () => {
    const { file } = projectDir();
    const home = mkdtempSync(join(tmpdir(), "skiff-pcache-home-"));
    writeFileSync(join(home, "skiff"), "not a directory");
    const cache = { build: BUILD, dir: join(home, "skiff", "projects") };
    assert.equal((await loadProjectCached({ file }, cache)).name, "shop");
    assert.equal(readCachedProject({ text: YML, file, ...cache }), undefined);
  });

  it("only this user's private folder is trusted: a file in a folder others can write is a miss, and none is written there", async () => {
    const { file } = projectDir();
    const cache = { build: BUILD, dir: cacheDir() };
    const input: CacheInput = { text: YML, file, ...cache };
    writeCachedProject(input, { ...loadProject({ file }), name: "planted" });
    assert.equal(readCachedProject(input)?.name, "planted");
    chmodSync(cache.dir, 0o777);
    assert.equal(readCachedProject(input), undefined, "a world-writable folder");
    assert.equal((await loadProjectCached({ file }, cache)).name, "shop", "checked afresh");
    chmodSync(cache.dir, 0o700);
    assert.equal(readCachedProject(input)?.name, "planted", "the load above wrote nothing into the open folder");
  });

  it("is private and stays out of the project: 0600 files in a 0700 folder of the user's", async () => {
    const { dir, file } = projectDir();
    const cache = { build: BUILD, dir: cacheDir() };
    await loadProjectCached({ file }, cache);
    assert.equal(statSync(cache.dir).mode & 0o777, 0o700);
    const stored = readdirSync(cache.dir);
    assert.equal(stored.length, 1, `one file, no temp file left: ${stored.join(", ")}`);
    assert.equal(statSync(join(cache.dir, stored[0]!)).mode & 0o777, 0o600);
    assert.equal(existsSync(join(dir, ".skiff")), false, "nothing written in the project (a file there could come through git)");
  });

  it("without a build (an unbundled run) and for skiff.config.ts nothing is cached", async () => {
    const { file } = projectDir();
    assert.equal((await loadProjectCached({ file }, undefined)).name, "shop");
    // skiff.config.ts is code (imports, placement functions): always run, never cached.
    const cache = { build: BUILD, dir: cacheDir() };
    const ts = mkdtempSync(join(tmpdir(), "skiff-pcache-ts-"));
    writeFileSync(join(ts, "skiff.config.ts"), `import { defineConfig } from "skiff";\nexport default defineConfig({ project: "tsshop", machines: { m1: { host: "10.0.0.1" } } });\n`);
    assert.equal((await loadProjectCached({ file: join(ts, "skiff.config.ts") }, cache)).name, "tsshop");
    assert.equal(existsSync(cache.dir), false);
  });

  it("finds skiff.yml from the working directory up, as the full load does", async () => {
    const { dir } = projectDir();
    mkdirSync(join(dir, "sub"));
    const cwd = process.cwd();
    process.chdir(join(dir, "sub"));
    try {
      const cache = { build: BUILD, dir: cacheDir() };
      assert.equal((await loadProjectCached({}, cache)).file, join(dir, "skiff.yml"));
      assert.equal((await loadProjectCached({}, cache)).file, join(dir, "skiff.yml"));
    } finally {
      process.chdir(cwd);
    }
  });
});

describe("the bundled CLI (dist/, as `npm run build` makes it)", () => {
  const BIN = new URL("../../bin/skiff.js", import.meta.url).pathname;
  it("keeps the checked project in the user's cache folder, and checks skiff.yml again once it changes", () => {
    // Machines nobody listens for (port 1 on loopback): status fails fast with exit 1 after loading the project.
    const { dir, file } = projectDir("project: shop\nmachines:\n  m1: { host: 127.0.0.1, port: 1 }\n");
    const home = mkdtempSync(join(tmpdir(), "skiff-pcache-xdg-"));
    const env = { ...process.env, XDG_CACHE_HOME: home, SKIFF_SOCKET_DIR: mkdtempSync(join(tmpdir(), "skiff-pcache-sock-")) };
    const status = () => spawnSync(process.execPath, [BIN, "status", "--json"], { cwd: dir, env, encoding: "utf8", timeout: 30_000 });
    const first = status();
    assert.equal(first.status, 1, first.stderr);
    assert.match(first.stdout, /"machine":"m1"/);
    const files = readdirSync(join(home, "skiff", "projects"));
    assert.equal(files.filter((f) => f.startsWith("project-")).length, 1, files.join(", "));
    // Beside it, under the same key, the forward the command used (the next cold run starts it early: prewarm.ts).
    const forwards = files.find((f) => f.startsWith("forwards-"));
    assert.ok(forwards, files.join(", "));
    const kept = JSON.parse(readFileSync(join(home, "skiff", "projects", forwards), "utf8")) as { machines: string[] };
    assert.deepEqual(kept.machines, ["m1"], "names only: the next run builds the ssh argv from the checked project");
    assert.equal(statSync(join(home, "skiff", "projects", forwards)).mode & 0o777, 0o600);
    assert.equal(status().status, 1, "a hit answers the same");
    writeFileSync(file, "project: shop\nmachines:\n  m1: { host: 127.0.0.1, port: one }\n");
    const edited = status();
    assert.equal(edited.status, 2, `an edited, broken file is checked, not answered from the cache:\n${edited.stdout}${edited.stderr}`);
    assert.match(edited.stdout, /"file":"skiff.yml","line":3,.*machines.m1.port/);
    assert.equal(existsSync(join(dir, ".skiff", "cache")), false, "nothing cached in the project");
  });
});

function asDataObject(p: Project): Record<string, unknown> {
  return asData(p) as Record<string, unknown>;
}
