// The checked-project cache (.skiff/cache/): a hit gives the project the full load gives; any change of the
// file's text, its path, the environment or the skiff build misses; a damaged or foreign cache file is a miss,
// never an error; a bad config is never cached; and no build (an unbundled run) means no cache at all.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
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
      const fresh = loadProject({ file, environment });
      const first = await loadProjectCached({ file, environment }, BUILD);
      assert.deepEqual(asData(first), asData(fresh));
      assert.ok(readCachedProject({ text: YML, file, environment, build: BUILD }), "the first load stored the project");
      const second = await loadProjectCached({ file, environment }, BUILD);
      assert.deepEqual(asData(second), asData(fresh));
      assert.equal(second.file, file);
      assert.equal(second.environment, environment);
      assert.equal(second.machines["constructor"], undefined);
      assert.equal(second.apps["toString"], undefined);
    }
  });

  it("a hit skips the check: a stored project under the right key is what comes back", async () => {
    const { file } = projectDir();
    const input: CacheInput = { text: YML, file, build: BUILD };
    const stored = loadProject({ file });
    writeCachedProject(input, { ...stored, name: "from-the-cache" });
    assert.equal((await loadProjectCached({ file }, BUILD)).name, "from-the-cache");
  });

  it("any change of the text, the environment, the build or the file's path misses", async () => {
    const { dir, file } = projectDir();
    const base: CacheInput = { text: YML, file, build: BUILD };
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
    await loadProjectCached({ file }, BUILD);
    writeFileSync(file, YML.replace("port: 8080", "port: 8081"));
    assert.equal((await loadProjectCached({ file }, BUILD)).apps["web"]!.port, 8081);
    writeFileSync(file, YML.replace("port: 8080", "port: eighty"));
    await assert.rejects(loadProjectCached({ file }, BUILD), (e: unknown) => e instanceof UserError && /1 problem/.test(e.message));
    // Put back: the first text's project was overwritten by the second's, so this loads (and checks) again.
    writeFileSync(file, YML);
    assert.equal((await loadProjectCached({ file }, BUILD)).apps["web"]!.port, 8080);
  });

  it("a damaged or foreign cache file is a miss, never an error", async () => {
    const { file } = projectDir();
    const input: CacheInput = { text: YML, file, build: BUILD };
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
      const loaded = await loadProjectCached({ file }, BUILD);
      assert.deepEqual(asData(loaded), asData(good), what);
      assert.ok(readCachedProject(input), `${what}: replaced by a good one`);
    }
    // A directory where the file should be: read misses, write gives up quietly, the load still works.
    renameSync(path, `${path}.moved`);
    mkdirSync(path);
    assert.equal(readCachedProject(input), undefined);
    assert.deepEqual(asData(await loadProjectCached({ file }, BUILD)), asData(good));
  });

  it("a project that cannot keep a cache (.skiff is a file) loads all the same", async () => {
    const { dir, file } = projectDir();
    writeFileSync(join(dir, ".skiff"), "not a directory");
    const p = await loadProjectCached({ file }, BUILD);
    assert.equal(p.name, "shop");
    assert.equal(readCachedProject({ text: YML, file, build: BUILD }), undefined);
  });

  it("is private and out of git: 0600 files in a 0700 folder that ignores itself", async () => {
    const { dir, file } = projectDir();
    await loadProjectCached({ file }, BUILD);
    const cache = join(dir, ".skiff", "cache");
    assert.equal(statSync(cache).mode & 0o777, 0o700);
    assert.equal(readFileSync(join(cache, ".gitignore"), "utf8"), "*\n");
    const stored = readdirSync(cache).filter((n) => n.endsWith(".json"));
    assert.equal(stored.length, 1);
    assert.equal(statSync(join(cache, stored[0]!)).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(cache).filter((n) => n.endsWith(".tmp")), [], "no temp file left");
  });

  it("without a build (an unbundled run) and for skiff.config.ts nothing is cached", async () => {
    const { dir, file } = projectDir();
    assert.equal((await loadProjectCached({ file }, undefined)).name, "shop");
    assert.throws(() => statSync(join(dir, ".skiff")), /ENOENT/);
    // skiff.config.ts is code (imports, placement functions): always run, never cached.
    const ts = mkdtempSync(join(tmpdir(), "skiff-pcache-ts-"));
    writeFileSync(join(ts, "skiff.config.ts"), `import { defineConfig } from "skiff";\nexport default defineConfig({ project: "tsshop", machines: { m1: { host: "10.0.0.1" } } });\n`);
    assert.equal((await loadProjectCached({ file: join(ts, "skiff.config.ts") }, BUILD)).name, "tsshop");
    assert.throws(() => statSync(join(ts, ".skiff", "cache")), /ENOENT/);
  });

  it("finds skiff.yml from the working directory up, as the full load does", async () => {
    const { dir } = projectDir();
    mkdirSync(join(dir, "sub"));
    const cwd = process.cwd();
    process.chdir(join(dir, "sub"));
    try {
      assert.equal((await loadProjectCached({}, BUILD)).file, join(dir, "skiff.yml"));
      assert.equal((await loadProjectCached({}, BUILD)).file, join(dir, "skiff.yml"));
    } finally {
      process.chdir(cwd);
    }
  });
});

function asDataObject(p: Project): Record<string, unknown> {
  return asData(p) as Record<string, unknown>;
}
