// The recipient check made without age (so a config loads without it) gives age's own verdict: real keys, a typo
// anywhere in them, a character short.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Encrypter, generateX25519Identity, identityToRecipient } from "age-encryption";
import { recipientProblem } from "../../src/config/recipients.ts";
const ageSays = (s: string) => { try { new Encrypter().addRecipient(s); return true; } catch { return false; } };
test("same verdict as age on 300 keys and their typos", async () => {
  for (let i = 0; i < 100; i++) {
    const r = await identityToRecipient(await generateX25519Identity());
    const pos = 5 + (i % (r.length - 5));
    const typo = r.slice(0, pos) + (r[pos] === "q" ? "p" : "q") + r.slice(pos + 1);
    for (const s of [r, typo, r.slice(0, -1)]) assert.equal(recipientProblem(s) === undefined, ageSays(s), s);
  }
});
