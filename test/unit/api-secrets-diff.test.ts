// Skiff.secrets, Skiff.keygen and Skiff.diff in-process, with a real age
// identity and real encrypted files: values go in as arguments, come out only
// from reveal, and never appear in events, results of other calls or errors.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Skiff, UserError, type SkiffConfig, type SkiffEvent } from "../../src/api.ts";

const VALUE = "s3cret-Value-Nobody-Sees";
const OTHER = "an0ther-Staging-Value";

async function setUp() {
  const dir = mkdtempSync(join(tmpdir(), "skiff-api-secrets-"));
  const env = { XDG_CONFIG_HOME: join(dir, "config") };
  const id = await Skiff.keygen({ env });
  const config: SkiffConfig = {
    project: "shop",
    machines: { m1: { host: "10.0.0.1" } },
    apps: { web: { image: "nginx:1", port: 80, env: { LEVEL: "info" }, secrets: { DB_URL: "DB_URL" } } },
    secrets: { recipients: [id.recipient] },
    environments: { staging: { machines: { m1: { host: "10.9.0.1" } }, apps: { web: { env: { LEVEL: "debug" } } } } },
  };
  const events: SkiffEvent[] = [];
  const open = (environment?: string) => Skiff.open({ config, dir, environment, env, onEvent: (e) => void events.push(e) });
  return { dir, env, id, open, events, config };
}

describe("Skiff.keygen", () => {
  it("makes an identity file (0600) once, and gives the same public key after", async () => {
    const dir = mkdtempSync(join(tmpdir(), "skiff-api-keygen-"));
    const env = { XDG_CONFIG_HOME: dir };
    const a = await Skiff.keygen({ env });
    assert.equal(a.file, join(dir, "skiff", "age-key.txt"));
    assert.match(a.recipient, /^age1[a-z0-9]+$/);
    assert.equal(statSync(a.file).mode & 0o777, 0o600);
    assert.deepEqual(await Skiff.keygen({ env }), a);
  });
});

describe("Skiff.secrets", () => {
  it("set, list (names only), reveal, unset, rotateKey; no value in events or in the file's text", async () => {
    const { open, events } = await setUp();
    const s = await open();
    assert.deepEqual(await s.secrets.list(), []);
    const set = await s.secrets.set("DB_URL", VALUE);
    assert.deepEqual({ ...set, file: undefined }, { name: "DB_URL", changed: true, file: undefined, recipients: 1 });
    assert.equal(set.file, s.secrets.file());
    assert.equal((await s.secrets.set("DB_URL", VALUE)).changed, false);
    await s.secrets.set("UNUSED", "x");
    assert.deepEqual(await s.secrets.list(), [{ name: "DB_URL", apps: ["web"] }, { name: "UNUSED", apps: [] }]);
    assert.equal(await s.secrets.reveal("DB_URL"), VALUE);
    assert.equal(await s.secrets.reveal("NOPE"), undefined);
    const text = readFileSync(s.secrets.file(), "utf8");
    assert.match(text, /^-----BEGIN AGE ENCRYPTED FILE-----/);
    assert.ok(!text.includes(VALUE));
    assert.equal(statSync(s.secrets.file()).mode & 0o777, 0o644, "ciphertext, meant for git");
    const before = text;
    assert.deepEqual(await s.secrets.rotateKey(), { file: s.secrets.file(), recipients: 1 });
    assert.notEqual(readFileSync(s.secrets.file(), "utf8"), before, "a new file key");
    assert.equal(await s.secrets.reveal("DB_URL"), VALUE);
    assert.deepEqual(await s.secrets.unset("UNUSED"), { name: "UNUSED", removed: true, file: s.secrets.file() });
    assert.deepEqual(await s.secrets.unset("UNUSED"), { name: "UNUSED", removed: false, file: s.secrets.file() });
    assert.ok(!JSON.stringify(events).includes(VALUE));
  });

  it("a bad name is a UserError that names it; a writer outside the recipients is refused before anything is written", async () => {
    const { open, dir } = await setUp();
    const s = await open();
    const e = await s.secrets.set("1BAD", VALUE).then(() => assert.fail("set"), (x: unknown) => x);
    assert.ok(e instanceof UserError);
    assert.match(e.message, /"1BAD" is not a valid secret name/);
    assert.ok(!e.message.includes(VALUE) && !String(e.hint).includes(VALUE));
    const stranger = await Skiff.open({ config: { project: "shop", machines: { m1: { host: "10.0.0.1" } }, secrets: { recipients: [(await Skiff.keygen({ env: { XDG_CONFIG_HOME: join(dir, "c2") } })).recipient] } }, dir, env: {}, settings: { configHome: join(dir, "config") } });
    const refused = await stranger.secrets.set("X", VALUE).then(() => assert.fail("set"), (x: unknown) => x);
    assert.ok(refused instanceof UserError);
    assert.match(refused.message, /not in secrets\.recipients.*nothing was written/);
    assert.ok(!refused.message.includes(VALUE));
    await assert.rejects(stranger.secrets.checkWriter(), UserError);
  });
});

describe("Skiff.diff", () => {
  it("machines and config per app, typed; secret values compared, never returned", async () => {
    const { open } = await setUp();
    await (await open()).secrets.set("DB_URL", VALUE);
    const staging = await open("staging");
    await staging.secrets.set("DB_URL", OTHER);
    const d = await (await open()).diff("staging");
    assert.equal(d.from, "default");
    assert.equal(d.to, "staging");
    assert.equal(d.secretsCompared, true);
    assert.deepEqual(d.differences.map((x) => x.text), ["machines: m1=10.0.0.1 → m1=10.9.0.1", "web: env.LEVEL: info → debug", "web: secret DB_URL: differs (values hidden)"]);
    assert.deepEqual(d.differences[1], { kind: "app", app: "web", change: { key: "env.LEVEL", from: "info", to: "debug", note: undefined }, text: "web: env.LEVEL: info → debug" });
    const json = JSON.stringify(d);
    assert.ok(!json.includes(VALUE) && !json.includes(OTHER), "no secret value in the result");
    // The same values on both sides: no secret difference; { a, b } names any two.
    await staging.secrets.set("DB_URL", VALUE);
    const same = await staging.diff({ a: "staging", b: "default" });
    assert.deepEqual(same.differences.map((x) => x.text), ["machines: m1=10.9.0.1 → m1=10.0.0.1", "web: env.LEVEL: debug → info"]);
  });

  it("names only when the secrets cannot be decrypted here", async () => {
    const { open, config, dir } = await setUp();
    await (await open()).secrets.set("DB_URL", VALUE);
    await (await open("staging")).secrets.set("DB_URL", OTHER);
    // Someone else's identity: neither file decrypts for them.
    const env = { XDG_CONFIG_HOME: join(dir, "someone-else") };
    await Skiff.keygen({ env });
    const d = await (await Skiff.open({ config, dir, env })).diff({ a: "default", b: "staging" });
    assert.equal(d.secretsCompared, false);
    assert.deepEqual(d.differences.map((x) => x.text), [
      "machines: m1=10.0.0.1 → m1=10.9.0.1",
      "secrets: values not compared (cannot decrypt them here: see `skiff secrets list`); names only",
      "web: env.LEVEL: info → debug",
    ]);
  });

  it("a Skiff made from a config object without Skiff.open says how to compare", async () => {
    const { open } = await setUp();
    const s = new Skiff((await open()).project);
    const e = await s.diff("staging").then(() => assert.fail("diff"), (x: unknown) => x);
    assert.ok(e instanceof UserError);
    assert.match(e.message, /config object/);
  });
});
