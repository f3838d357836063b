// secrets.recipients are checked the way the secrets store uses them: a key
// with a typo (a bad bech32 checksum) is refused by `validate` (the schema) and
// by `skiff secrets set` alike, with the same words. Imported by config (down).
// The check is age's own for X25519 keys (bech32, prefix "age", 32 bytes), made
// with the bech32 library age uses, so loading a config does not load age itself
// (the CLI loads it only for secrets).
import { bech32 } from "@scure/base";

/** What is wrong with an age recipient, or undefined. */
export function recipientProblem(s: string): string | undefined {
  if (!/^age1[0-9a-z]+$/.test(s)) return "must be an age public key (age1… in lowercase, as `skiff secrets keygen` prints it)";
  try {
    // Post-quantum and tag recipients (age1pq1…, age1tag1…) are longer than bech32's usual 90 characters.
    const long = /^age1(pq|tag|tagpq)1/.test(s);
    const { prefix, words } = bech32.decode(s, long ? false : undefined);
    if (!long && (prefix !== "age" || bech32.fromWords(words).length !== 32)) throw new Error("wrong length");
  } catch {
    return "is not a valid age public key (its checksum or length is wrong): copy it again, whole, from `skiff secrets keygen`";
  }
  return undefined;
}
