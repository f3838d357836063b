// secrets.recipients are checked the way the secrets store uses them: a key
// with a typo (a bad bech32 checksum) is refused by `validate` (the schema) and
// by `skiff secrets set` alike, with the same words. Imported by config (down).
import { Encrypter } from "age-encryption";

/** What is wrong with an age recipient, or undefined. */
export function recipientProblem(s: string): string | undefined {
  if (!/^age1[0-9a-z]+$/.test(s)) return "must be an age public key (age1… in lowercase, as `skiff secrets keygen` prints it)";
  try {
    new Encrypter().addRecipient(s);
  } catch {
    return "is not a valid age public key (its checksum or length is wrong): copy it again, whole, from `skiff secrets keygen`";
  }
  return undefined;
}
