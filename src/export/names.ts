// The names of exported objects follow one written contract (cdk8s's): a DNS label of lowercase letters, digits
// and "-", starting with a letter and ending with a letter or digit, at most 63 characters. A name that would be
// longer keeps its start and ends in "-" and 8 hex digits of a SHA-256 of the whole, so it stays the same from one
// export to the next and two long names that share their first 54 characters still differ.
import { createHash } from "node:crypto";

export const MAX_LABEL = 63;
const HASH_LEN = 8;

/** A short stable hash of a text (hex). */
export const shortHash = (text: string, length = HASH_LEN): string => createHash("sha256").update(text).digest("hex").slice(0, length);

/** True when `name` is a DNS label (RFC 1123, as Services need: starting with a letter). */
export const isDnsLabel = (name: string): boolean => name.length <= MAX_LABEL && /^[a-z]([a-z0-9-]*[a-z0-9])?$/.test(name);

/** The parts joined with "-" as a DNS label: other characters become "-", runs of "-" one, and a name past 63
 *  characters is cut with a stable hash of the whole (see above). */
export function dnsLabel(...parts: string[]): string {
  const whole = parts.join("-");
  let name = whole.toLowerCase().replace(/[^a-z0-9-]+/g, "-").replace(/-+/g, "-").replace(/^[^a-z]+/, "").replace(/-+$/, "");
  if (!name) name = "x";
  // A changed name (characters replaced) is hashed too, so "a_b" and "a.b" do not meet as "a-b".
  if (name.length <= MAX_LABEL && name === whole) return name;
  if (name.length <= MAX_LABEL - HASH_LEN - 1 && name !== whole) return `${name}-${shortHash(whole)}`;
  const head = name.slice(0, MAX_LABEL - HASH_LEN - 1).replace(/-+$/, "");
  return `${head}-${shortHash(whole)}`;
}
