// The secrets store on its own, as the second line behind the config schema:
// a recipient list that skiff.yml validation should have refused still gives
// a clear error, not a stack trace, and writes nothing.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { generateX25519Identity, identityToRecipient } from "age-encryption";
import type { Project } from "../../src/config/model.ts";
import { UserError } from "../../src/errors.ts";
import { recipientProblem } from "../../src/config/recipients.ts";
import { appSecrets, secretsFile, writeSecrets } from "../../src/secrets/store.ts";

const dir = mkdtempSync(join(tmpdir(), "skiff-secrets-store-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("secrets store", () => {
  it("a recipient with a bad bech32 checksum is a UserError (exit 2) and nothing is written", async () => {
    const id = await generateX25519Identity();
    const recipient = await identityToRecipient(id);
    const keyFile = join(dir, "key.txt");
    writeFileSync(keyFile, `${id}\n`, { mode: 0o600 });
    process.env.SKIFF_AGE_IDENTITY = keyFile;
    const broken = recipient.slice(0, -1) + (recipient.endsWith("q") ? "p" : "q");
    const project = { dir, environment: undefined, secrets: { recipients: [recipient, broken] } } as unknown as Project;
    await assert.rejects(writeSecrets(project, { A: "v" }), (e: unknown) => e instanceof UserError && e.exitCode === 2 && e.message.includes(broken) && /checksum/.test(e.message));
    assert.equal(existsSync(secretsFile(project)), false);
  });

  it("refuses a recipient with the schema's own check and words (one function for both)", async () => {
    const id = await generateX25519Identity();
    const recipient = await identityToRecipient(id);
    const keyFile = join(dir, "key2.txt");
    writeFileSync(keyFile, `${id}\n`, { mode: 0o600 });
    process.env.SKIFF_AGE_IDENTITY = keyFile;
    // age accepts an all-uppercase bech32 key; skiff.yml validation does not, so neither does the store.
    for (const bad of [recipient.slice(0, -1) + (recipient.endsWith("q") ? "p" : "q"), recipient.toUpperCase()]) {
      const project = { dir, environment: "one", secrets: { recipients: [recipient, bad] } } as unknown as Project;
      const want = recipientProblem(bad)!;
      assert.ok(want, bad);
      await assert.rejects(writeSecrets(project, { A: "v" }), (e: unknown) => e instanceof UserError && e.message.includes(want), bad);
      assert.equal(existsSync(secretsFile(project)), false);
    }
  });

  it("an app's secrets are looked up as names: `constructor`, `toString` are secrets like any other", () => {
    const project = { dir, environment: undefined } as unknown as Project;
    const all = Object.assign(Object.create(null), { constructor: "c1", toString: "t1" });
    assert.deepEqual({ ...appSecrets(project, { name: "web", secrets: { constructor: "constructor", B: "toString" } }, all) }, { constructor: "c1", B: "t1" });
    assert.throws(() => appSecrets(project, { name: "web", secrets: { X: "hasOwnProperty" } }, Object.create(null)), /needs secret hasOwnProperty/);
  });
});
