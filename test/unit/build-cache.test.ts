// An artifact's build runs only when its inputs change: real builds (sh) in a
// temporary project, the packed artifact in the project's cache checked by
// unpacking it, and the cache's bound.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { ArtifactCache } from "../../src/build/artifact-cache.ts";
import { buildApps, plannedImages } from "../../src/build/image.ts";
import { loadProject } from "../../src/config/load.ts";
import type { Event } from "../../src/contracts/events.ts";
import { hashTree } from "../../src/contracts/artifact.ts";

const tmp = () => mkdtempSync(join(tmpdir(), "skiff-build-"));

/** A project whose build appends to a counter outside it, and fills node_modules from the lockfile, like `npm ci`. */
function fixture(buildCommand = "echo run >> $COUNTER && rm -rf app/node_modules && mkdir app/node_modules && cp app/package-lock.json app/node_modules/.lock") {
  const dir = tmp();
  const counter = join(tmp(), "count");
  mkdirSync(join(dir, "app"));
  mkdirSync(join(dir, "config"));
  writeFileSync(join(dir, "app", "server.js"), "console.log(1)\n");
  writeFileSync(join(dir, "app", "package-lock.json"), '{"v":1}\n');
  writeFileSync(join(dir, "config", "app.env"), "A=1\n");
  const yml = (level: string, cmd = buildCommand) => `project: p
machines:
  m1: { host: 10.0.0.1 }
apps:
  web:
    run: node server.js
    artifact: { dir: app, build: ${JSON.stringify(cmd.replaceAll("$COUNTER", counter))} }
    env: { LEVEL: ${level} }
    files: { app.env: config/app.env }
`;
  const write = (level = "info", cmd?: string) => writeFileSync(join(dir, "skiff.yml"), yml(level, cmd));
  write();
  const runs = () => (existsSync(counter) ? readFileSync(counter, "utf8").split("\n").filter(Boolean).length : 0);
  async function build(o: { planned?: boolean } = {}) {
    const project = loadProject({ file: join(dir, "skiff.yml") });
    const events: Event[] = [];
    const planned = o.planned ? await plannedImages(project, Object.values(project.apps)) : [];
    const [img] = await buildApps(project, Object.values(project.apps), { emit: (e) => events.push(e) }, planned);
    const steps = events.flatMap((e) => (e.type === "step" ? [e.step] : []));
    return { img: img!, steps };
  }
  return { dir, write, runs, build };
}

describe("artifact builds", () => {
  it("run once per set of inputs; a config-only change or a redeploy reuses the artifact", async () => {
    const f = fixture();
    const first = await f.build();
    assert.equal(f.runs(), 1);
    assert.equal(first.img.built, true);
    assert.match(first.img.id!, /^artifact:[0-9a-f]{64}$/);
    assert.equal(first.img.id, `artifact:${hashTree(join(f.dir, "app"))}`);

    const again = await f.build();
    assert.equal(f.runs(), 1, "nothing changed: the build must not run");
    assert.equal(again.img.id, first.img.id);
    assert.ok(again.steps.some((s) => /build web: skipped \(inputs unchanged/.test(s)), again.steps.join("\n"));

    f.write("debug"); // skiff.yml
    writeFileSync(join(f.dir, "config", "app.env"), "A=2\n"); // a files: template
    mkdirSync(join(f.dir, "secrets"));
    writeFileSync(join(f.dir, "secrets", "default.age"), "x");
    assert.equal((await f.build()).img.id, first.img.id);
    assert.equal(f.runs(), 1, "a config-only change must not run the build");
  });

  it("run again when the lockfile, a source outside the artifact or the command changes", async () => {
    const f = fixture();
    await f.build();
    writeFileSync(join(f.dir, "app", "package-lock.json"), '{"v":2}\n');
    const lock = await f.build();
    assert.equal(f.runs(), 2);
    assert.equal(readFileSync(join(f.dir, "app", "node_modules", ".lock"), "utf8"), '{"v":2}\n');
    mkdirSync(join(f.dir, "src"));
    writeFileSync(join(f.dir, "src", "index.ts"), "x");
    await f.build();
    assert.equal(f.runs(), 3, "a new file beside the artifact is an input");
    await f.build();
    assert.equal(f.runs(), 3);
    f.write("info", "echo run >> $COUNTER && true");
    const cmd = await f.build();
    assert.equal(f.runs(), 4, "a new build command");
    assert.equal(cmd.img.id, lock.img.id, "same content, same artifact");
  });

  it("inputs seen before give their artifact from the cache, packed as it was built", async () => {
    const f = fixture();
    const first = await f.build();
    // Back to the tree before the first build (a fresh checkout): no build, the packed artifact is shipped.
    rmSync(join(f.dir, "app", "node_modules"), { recursive: true });
    const fresh = await f.build();
    assert.equal(f.runs(), 1);
    assert.equal(fresh.img.id, first.img.id);
    assert.ok(fresh.img.tarball && existsSync(fresh.img.tarball));
    const out = tmp();
    execFileSync("tar", ["-xzf", fresh.img.tarball, "-C", out]);
    assert.equal(`artifact:${hashTree(out)}`, first.img.id);
    assert.ok(existsSync(join(out, "node_modules", ".lock")));
    assert.equal(readFileSync(join(f.dir, ".skiff", "cache", ".gitignore"), "utf8"), "*\n");
  });

  it("a plan names the artifact its inputs made before; a deploy given that plan does not build", async () => {
    const f = fixture();
    const plan = async () => {
      const project = loadProject({ file: join(f.dir, "skiff.yml") });
      return (await plannedImages(project, Object.values(project.apps)))[0]!;
    };
    const before = await plan();
    assert.equal(before.id, undefined, "nothing built yet");
    assert.match(before.note!, /built by `.*` at deploy/);
    const first = await f.build({ planned: true });
    assert.equal(f.runs(), 1);
    const after = await plan();
    assert.equal(after.id, first.img.id);
    assert.match(after.note!, /inputs unchanged/);
    const again = await f.build({ planned: true });
    assert.equal(f.runs(), 1);
    assert.equal(again.img.id, first.img.id);
    assert.ok(again.steps.some((s) => /skipped \(inputs unchanged/.test(s)), again.steps.join("\n"));
  });

  it("a build that fails says so and remembers nothing", async () => {
    const f = fixture("echo run >> $COUNTER && echo broken >&2 && exit 3");
    await assert.rejects(f.build(), /build of web failed \(`.*` exited with 3\)\n.*broken/);
    await assert.rejects(f.build(), /exited with 3/);
    assert.equal(f.runs(), 2);
  });
});

describe("artifact cache", () => {
  it("keeps within its bound, least recently used out first, with the keys that named them", async () => {
    const c = new ArtifactCache(join(tmp(), "cache"), 0);
    const hashes = ["a", "b", "c"].map((x) => x.repeat(64));
    const src = tmp();
    writeFileSync(join(src, "f"), "x".repeat(1000));
    for (const [i, h] of hashes.entries()) {
      await new ArtifactCache(c.dir, 10 ** 9).store(h, src);
      c.remember(`key${i}`, h);
      utimesSync(c.tarball(h)!, new Date(1000 * (i + 1)), new Date(1000 * (i + 1)));
    }
    assert.equal(c.lookup("key0"), hashes[0]); // now the most recently used
    const bytes = readFileSync(c.tarball(hashes[0]!)!).length;
    const bounded = new ArtifactCache(c.dir, 2 * bytes);
    bounded.prune();
    assert.equal(bounded.lookup("key1"), undefined, "the least recently used went");
    assert.equal(bounded.tarball(hashes[1]!), undefined);
    assert.equal(bounded.lookup("key0"), hashes[0]);
    assert.equal(bounded.lookup("key2"), hashes[2]);
    // The artifact just stored stays even when it alone is past the bound.
    await c.store("d".repeat(64), src);
    assert.ok(c.tarball("d".repeat(64)));
    assert.equal(c.tarball(hashes[0]!), undefined);
    c.forget("d".repeat(64));
    assert.equal(c.tarball("d".repeat(64)), undefined);
  });
});
