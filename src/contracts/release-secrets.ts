// A release's secret values (and its files, which templates may fill with them)
// go only to machines that run the app. The others get the same release without
// them, marked `withheld` with a digest, so both copies count as one release.
import { createHash } from "node:crypto";
import type { ReleaseSpec } from "./model.ts";

/** What the secrets and files of a full spec hash to (the withheld copy carries it). */
export function secretDigest(s: ReleaseSpec): string {
  if (s.withheld) return s.withheld.digest;
  return createHash("sha256").update(JSON.stringify({ secrets: s.secrets ?? {}, files: s.files ?? [] })).digest("hex");
}

/** The copy for a machine that runs none of the app's instances: peers and routes need the spec, not its secrets. */
export function withoutSecrets(s: ReleaseSpec): ReleaseSpec {
  if (s.withheld || (!s.secrets && !s.files)) return s;
  const { secrets: _s, files: _f, ...rest } = s;
  return { ...rest, withheld: { digest: secretDigest(s) } };
}

/** The spec as it decides sameness: secret values and file contents by digest, who and when left out. */
export function comparable(s: ReleaseSpec): string {
  const { secrets: _s, files: _f, withheld: _w, createdAt: _a, createdBy: _b, ...rest } = s;
  return JSON.stringify({ ...rest, secretDigest: s.secrets || s.files || s.withheld ? secretDigest(s) : undefined });
}

/** Two stored copies of one release number: the same release (full or withheld alike)? */
export const sameRelease = (a: ReleaseSpec, b: ReleaseSpec): boolean => comparable(a) === comparable(b);
