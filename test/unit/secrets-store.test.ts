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
import { secretsFile, writeSecrets } from "../../src/secrets/store.ts";

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
});
