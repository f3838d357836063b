// `skiff secrets …` as a user runs it (the CLI built from the current source), with keys made by
// `skiff secrets keygen` and files made by the age library skiff uses: every
// mistake is a clear error (exit 2, a hint, no stack), and SKIFF_AGE_KEY never
// reaches a child process.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, describe, it } from "node:test";
import { armor, Encrypter } from "age-encryption";
// The CLI bundled from the current source, not a possibly stale dist/ (SKIFF_TEST_BIN still picks a build).
import { cliPath, skiff as run } from "./cli-fresh.ts";

const root = mkdtempSync(join(tmpdir(), "skiff-secrets-cli-"));
after(() => rmSync(root, { recursive: true, force: true }));

interface Person {
  config: string;
  keyFile: string;
  key: string;
  recipient: string;
}

let n = 0;
function skiff(cwd: string, args: string[], opts: { person?: Person; env?: Record<string, string>; stdin?: string } = {}) {
  const env: Record<string, string> = { PATH: process.env.PATH!, HOME: root, TMPDIR: root, NO_COLOR: "1", ...(opts.person ? { XDG_CONFIG_HOME: opts.person.config } : {}), ...opts.env };
  return run(args, { cwd, env, inheritEnv: false, input: opts.stdin ?? "" });
}

/** A person with an identity made by `skiff secrets keygen`. */
function person(): Person {
  const config = join(root, `person-${n++}`);
  const r = skiff(root, ["secrets", "keygen"], { env: { XDG_CONFIG_HOME: config } });
  assert.equal(r.status, 0, r.stderr);
  const keyFile = join(config, "skiff", "age-key.txt");
  const key = readFileSync(keyFile, "utf8").split("\n").find((l) => l.startsWith("AGE-SECRET-KEY-"))!;
  return { config, keyFile, key, recipient: /public key: (age1\w+)/.exec(r.stdout)![1]! };
}

function project(recipients: string[]): string {
  const dir = mkdtempSync(join(root, "p-"));
  writeFileSync(join(dir, "skiff.yml"), `project: s\nmachines:\n  m1: { host: 10.0.0.1 }\nsecrets:\n  recipients: [${recipients.join(", ")}]\n`);
  return dir;
}

async function encryptTo(dir: string, recipient: string, plaintext: string): Promise<string> {
  const e = new Encrypter();
  e.addRecipient(recipient);
  mkdirSync(join(dir, "secrets"), { recursive: true });
  const file = join(dir, "secrets", "default.age");
  writeFileSync(file, armor.encode(await e.encrypt(plaintext)));
  return file;
}

function userError(r: ReturnType<typeof skiff>, message: RegExp, hint: RegExp) {
  assert.equal(r.status, 2, `exit ${r.status}\n${r.stderr}`);
  assert.doesNotMatch(r.stderr, /internal error|\n\s+at /, "no stack trace");
  assert.match(r.stderr, message);
  assert.match(r.stderr, new RegExp(`\\nhint: .*${hint.source}`));
}

const alice = person();
const bob = person();

describe("secrets CLI: clear errors", () => {
  it("works for a recipient (the baseline the cases below break)", () => {
    const dir = project([alice.recipient]);
    assert.equal(skiff(dir, ["secrets", "set", "A"], { person: alice, stdin: "v1" }).status, 0);
    const r = skiff(dir, ["secrets", "show", "A", "--reveal"], { env: { SKIFF_AGE_KEY: alice.key } });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, "v1");
  });

  it("a garbage SKIFF_AGE_KEY", () => {
    const dir = project([alice.recipient]);
    skiff(dir, ["secrets", "set", "A"], { person: alice, stdin: "v1" });
    for (const bad of ["garbage", "AGE-SECRET-KEY-1XYZ", alice.recipient, alice.key.slice(0, -1) + (alice.key.endsWith("Q") ? "P" : "Q")]) {
      const r = skiff(dir, ["secrets", "list"], { env: { SKIFF_AGE_KEY: bad } });
      userError(r, /SKIFF_AGE_KEY is not an age identity/, /AGE-SECRET-KEY-1/);
      assert.ok(!r.stderr.includes(bad), "the key itself is not printed");
    }
  });

  it("a broken key line in the identity file names the file", () => {
    const dir = project([alice.recipient]);
    skiff(dir, ["secrets", "set", "A"], { person: alice, stdin: "v1" });
    const p = person();
    writeFileSync(p.keyFile, "AGE-SECRET-KEY-1XYZ\n");
    userError(skiff(dir, ["secrets", "list"], { person: p }), new RegExp(`${p.keyFile} holds a line that is not an age identity`), /keygen/);
  });

  it("an identity path that cannot be read", () => {
    const dir = project([alice.recipient]);
    skiff(dir, ["secrets", "set", "A"], { person: alice, stdin: "v1" });
    userError(skiff(dir, ["secrets", "list"], { env: { SKIFF_AGE_IDENTITY: dir } }), new RegExp(`cannot read the age identity ${dir}: EISDIR`), /readable file/);
  });

  it("non-JSON plaintext in the .age file", async () => {
    const dir = project([alice.recipient]);
    await encryptTo(dir, alice.recipient, "A=v1\n");
    userError(skiff(dir, ["secrets", "list"], { person: alice }), /secrets\/default\.age decrypts, but not to a JSON object/, /age -d/);
  });

  it("non-string values (and names that are not env names) in the decrypted JSON", async () => {
    for (const [json, name] of [['{"A": 1}', "A"], ['{"B": {"x": "y"}}', "B"], ['{"C": null}', "C"], ['{"bad-name": "v"}', "bad-name"], ['["v"]', ""]] as const) {
      const dir = project([alice.recipient]);
      await encryptTo(dir, alice.recipient, json);
      const r = skiff(dir, ["secrets", "list"], { person: alice });
      userError(r, name ? new RegExp(`secrets/default\\.age: ${name} `) : /not to a JSON object/, /skiff secrets edit|age -d/);
    }
  });

  it("a recipient with a bad bech32 checksum in skiff.yml", () => {
    const broken = alice.recipient.slice(0, -1) + (alice.recipient.endsWith("q") ? "p" : "q");
    const dir = project([broken]);
    const r = skiff(dir, ["secrets", "set", "A"], { person: alice, stdin: "v1" });
    assert.equal(r.status, 2, r.stderr);
    assert.doesNotMatch(r.stderr, /internal error|\n\s+at /);
    assert.match(r.stderr, /recipient|age public key/);
    assert.ok(!existsSync(join(dir, "secrets", "default.age")));
  });

  it("a corrupt .age file is called damaged, not 'not a recipient'", async () => {
    const dir = project([alice.recipient]);
    const file = await encryptTo(dir, alice.recipient, '{"A": "v1"}');
    const good = readFileSync(file, "utf8");
    const lines = good.split("\n");
    const flip = (s: string, i: number) => s.slice(0, i) + (s[i] === "A" ? "B" : "A") + s.slice(i + 1);
    const damaged = [
      good.slice(0, good.length / 2), // truncated
      lines.map((l, i) => (i === lines.length - 3 ? flip(l, 5) : l)).join("\n"), // a byte in the payload
      "not an age file at all\n",
      "-----BEGIN AGE ENCRYPTED FILE-----\n!!!!\n-----END AGE ENCRYPTED FILE-----\n",
    ];
    for (const text of damaged) {
      writeFileSync(file, text);
      const r = skiff(dir, ["secrets", "list"], { person: alice });
      userError(r, /secrets\/default\.age is damaged/, /git/);
      assert.doesNotMatch(r.stderr, /not encrypted to your key|secrets\.recipients/);
    }
  });

  it("a file not encrypted to you says so, with the recipients hint", async () => {
    const dir = project([alice.recipient]);
    await encryptTo(dir, alice.recipient, '{"A": "v1"}');
    userError(skiff(dir, ["secrets", "list"], { person: bob }), /not encrypted to your key/, /secrets\.recipients/);
  });

  it("`secrets set` by someone not among the recipients is refused before writing", async () => {
    // A new file: bob would write a file only alice can read.
    const fresh = project([alice.recipient]);
    const r = skiff(fresh, ["secrets", "set", "A"], { person: bob, stdin: "v1" });
    userError(r, new RegExp(`your public key ${bob.recipient} is not in secrets\\.recipients`), /add it to secrets\.recipients/);
    assert.ok(!existsSync(join(fresh, "secrets", "default.age")), "nothing written");
    // A file bob can still read (encrypted to both) after he was dropped from skiff.yml.
    const dir = project([alice.recipient]);
    const file = await encryptTo(dir, bob.recipient, '{"A": "v1"}');
    const before = readFileSync(file, "utf8");
    for (const args of [["secrets", "set", "B"], ["secrets", "unset", "A"], ["secrets", "rotate-key"]]) {
      const w = skiff(dir, args, { person: bob, stdin: "v2" });
      userError(w, /is not in secrets\.recipients/, /secrets\.recipients/);
      assert.equal(readFileSync(file, "utf8"), before, `${args.join(" ")} left the file as it was`);
    }
  });
});

describe("secrets edit: a bad edit", () => {
  it("is reported by line and column without quoting the file, and the edit is kept (0600) for the next try", () => {
    const dir = project([alice.recipient]);
    assert.equal(skiff(dir, ["secrets", "set", "A"], { person: alice, stdin: "v1" }).status, 0);
    const age = join(dir, "secrets", "default.age");
    const before = readFileSync(age, "utf8");
    const editor = join(dir, "bad-editor.sh");
    // The value the user typed is missing its quotes: JSON.parse's message on Node 20 quotes it.
    writeFileSync(editor, `#!/bin/sh\nprintf '{\\n  "A": "v1",\\n  "PASSWORD": hunter2sec\\n}\\n' > "$1"\n`);
    chmodSync(editor, 0o755);
    const r = skiff(dir, ["secrets", "edit"], { person: alice, env: { EDITOR: editor } });
    userError(r, /not valid JSON at line 3, column 15; nothing changed/, /plaintext \(0600\): fix it, then apply it/);
    assert.ok(!(r.stdout + r.stderr).includes("hunter2"), `a secret is in the output:\n${r.stderr}`);
    assert.equal(readFileSync(age, "utf8"), before, "the .age file is as it was");
    const kept = /your edit is kept in (\S+?\.json)/.exec(r.stderr)?.[1];
    assert.ok(kept && existsSync(kept), `the kept file is named and exists:\n${r.stderr}`);
    assert.equal(statSync(kept).mode & 0o777, 0o600);
    assert.equal(statSync(dirname(kept)).mode & 0o777, 0o700);
    assert.match(readFileSync(kept, "utf8"), /"PASSWORD": hunter2sec/, "the user's edit is all there");
    // The hint's way back: fix the kept file, then edit with it as the "editor".
    writeFileSync(kept, '{"A": "v1", "PASSWORD": "hunter2sec"}\n');
    const hint = /hint: .*?(VISUAL=.*? skiff secrets edit)/.exec(r.stderr)?.[1];
    assert.ok(hint, r.stderr);
    const again = spawnSync("sh", ["-c", hint.replace("skiff secrets edit", `"$@"`), "sh", process.execPath, process.env.SKIFF_TEST_BIN ?? cliPath(), "secrets", "edit"], { cwd: dir, env: { PATH: process.env.PATH!, HOME: root, TMPDIR: root, XDG_CONFIG_HOME: alice.config }, encoding: "utf8" });
    assert.equal(again.status, 0, again.stderr);
    assert.equal(skiff(dir, ["secrets", "show", "PASSWORD", "--reveal"], { person: alice }).stdout, "hunter2sec");
  });

  it("a value that is not a string or a bad name keeps the edit too", () => {
    const dir = project([alice.recipient]);
    assert.equal(skiff(dir, ["secrets", "set", "A"], { person: alice, stdin: "v1" }).status, 0);
    for (const [text, want] of [['{"A": 5}', /secret A must be a string/], ['{"bad-name": "s3cr3t"}', /not a valid secret name/], ['["s3cr3t"]', /not a JSON object/]] as const) {
      const editor = join(dir, "editor2.sh");
      writeFileSync(editor, `#!/bin/sh\nprintf '%s' '${text}' > "$1"\n`);
      chmodSync(editor, 0o755);
      const r = skiff(dir, ["secrets", "edit"], { person: alice, env: { EDITOR: editor } });
      userError(r, want, /plaintext \(0600\): fix it, then apply it/);
      const kept = /your edit is kept in (\S+?\.json)/.exec(r.stderr)?.[1];
      assert.ok(kept && readFileSync(kept, "utf8") === text, r.stderr);
      assert.ok(!r.stderr.includes("s3cr3t"));
    }
  });
});

describe("SKIFF_AGE_KEY stays out of child processes", () => {
  it("the $EDITOR of `secrets edit` does not inherit it", () => {
    const dir = project([alice.recipient]);
    assert.equal(skiff(dir, ["secrets", "set", "A"], { person: alice, stdin: "v1" }).status, 0);
    const dump = join(dir, "editor-env.txt");
    const editor = join(dir, "editor.sh");
    writeFileSync(editor, `#!/bin/sh\nenv > '${dump}'\n`);
    chmodSync(editor, 0o755);
    const r = skiff(dir, ["secrets", "edit"], { env: { SKIFF_AGE_KEY: alice.key, EDITOR: editor } });
    assert.equal(r.status, 0, r.stderr);
    const env = readFileSync(dump, "utf8");
    assert.match(env, /^EDITOR=/m, "the dump is the editor's environment");
    assert.doesNotMatch(env, /SKIFF_AGE_KEY/);
    assert.ok(!env.includes(alice.key.slice("AGE-SECRET-KEY-1".length)), "the key's value is nowhere in it");
  });
});
