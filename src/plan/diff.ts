// Pure: what differs between two releases of an app (or two environments'
// view of it), as lines a person reads: "env.LEVEL: info → debug". Secret
// values never appear: only that a secret was added, removed or changed.
import type { ReleaseSpec } from "../contracts/model.ts";
import { secretDigest } from "../contracts/release-secrets.ts";

export interface Change {
  key: string;
  /** Shown values (never a secret's). */
  from?: string;
  to?: string;
  note?: string;
}

const show = (v: unknown): string => (v === undefined ? "(none)" : typeof v === "string" ? v : JSON.stringify(v));

function compareMaps(prefix: string, a: Record<string, string>, b: Record<string, string>, secret: boolean): Change[] {
  const out: Change[] = [];
  for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
    if (a[k] === b[k]) continue;
    const key = `${prefix}${k}`;
    if (secret) out.push({ key, note: a[k] === undefined ? (prefix === "file " ? "added" : "added (value hidden)") : b[k] === undefined ? "removed" : prefix === "file " ? "changed" : "changed (value hidden)" });
    else out.push({ key, from: a[k] === undefined ? undefined : show(a[k]), to: b[k] === undefined ? undefined : show(b[k]), note: a[k] === undefined ? "added" : b[k] === undefined ? "removed" : undefined });
  }
  return out;
}

/** Fields compared one by one; env and secrets key by key. Identity fields (release, who, when, git) are not config. */
// Every field that makes two releases different ones (see identity in release-spec.ts), so that "no changes"
// here means a deploy stores nothing new.
const FIELDS: (keyof ReleaseSpec)[] = ["runtime", "image", "command", "user", "port", "protocol", "internalPort", "instances", "placement", "limits", "health", "routes", "drainMs", "stopTimeoutS", "keepReleases", "probationMs", "preDeploy"];

export function diffSpecs(from: ReleaseSpec | undefined, to: ReleaseSpec): Change[] {
  if (!from) return [{ key: "release", note: "first release on this machine" }];
  const out: Change[] = [];
  for (const f of FIELDS) {
    const a = from[f] ?? (f === "runtime" ? "docker" : undefined);
    const b = to[f] ?? (f === "runtime" ? "docker" : undefined);
    if (JSON.stringify(a) !== JSON.stringify(b)) out.push({ key: String(f), from: show(a), to: show(b) });
  }
  // The same tag can hold a new build: compare what runs when both are known.
  if (!out.some((c) => c.key === "image") && from.imageId && to.imageId && from.imageId !== to.imageId) out.push({ key: "image", from: `${from.image} (${from.imageId.slice(7, 19)})`, to: `${to.image} (${to.imageId.slice(7, 19)})` });
  // A machine without instances of the app keeps neither secrets nor files (withheld): only a digest says whether they changed.
  const withheld = Boolean(from.withheld || to.withheld);
  if (withheld && secretDigest(from) !== secretDigest(to)) out.push({ key: "secrets and files", note: "changed (not kept on this machine)" });
  // Files: contents can hold secret values, so a change is named, never shown.
  const files = (s: ReleaseSpec) => Object.fromEntries((s.files ?? []).map((f) => [f.path, `${f.mode.toString(8)}:${f.content}`]));
  if (!withheld) out.push(...compareMaps("file ", files(from), files(to), true));
  const vols = (s: ReleaseSpec) => Object.fromEntries((s.volumes ?? []).map((v) => [v.name, v.path]));
  out.push(...compareMaps("volume ", vols(from), vols(to), false));
  out.push(...compareMaps("env.", from.env, to.env, false));
  if (!withheld) out.push(...compareMaps("secret ", from.secrets ?? {}, to.secrets ?? {}, true));
  return out;
}

export function formatChange(c: Change): string {
  if (c.note && c.from === undefined && c.to === undefined) return `${c.key}: ${c.note}`;
  if (c.note === "added") return `${c.key}: added = ${c.to}`;
  if (c.note === "removed") return `${c.key}: removed (was ${c.from})`;
  return `${c.key}: ${c.from} → ${c.to}`;
}
