// How two environments of one project differ: machines, and per app its config
// (env, instances, resources, routes, files, …) as a release spec would carry
// it. Secret values are compared when both environments' secrets decrypt here,
// and never returned: a difference says "differs (values hidden)", no value.
import type { AppImage } from "../build/image.ts";
import type { AppSpec, Project } from "../config/model.ts";
import { releaseSpec } from "../exec/deploy.ts";
import { diffSpecs, formatChange, type Change } from "../plan/diff.ts";
import { readSecrets, type Secrets } from "../secrets/store.ts";

/**
 * One difference, with the line `skiff diff` prints for it (`text`). `machines`: the machines (name=host,
 * sorted) differ. `secrets-not-compared`: some app uses secrets but a side's file does not decrypt here, so
 * secrets are compared by name only. `app-only-in`: the app exists in one environment. `app`: a field of the
 * app's release spec differs (values shown, never a secret's or a file's contents).
 */
export type EnvDifference =
  | { kind: "machines"; from: string; to: string; text: string }
  | { kind: "secrets-not-compared"; text: string }
  | { kind: "app-only-in"; app: string; environment: string; text: string }
  | { kind: "app"; app: string; change: Change; text: string };

export interface EnvDiff {
  /** The environments compared ("default" is the base config). */
  from: string;
  to: string;
  /** Secret values were compared (both sides decrypt here); otherwise only the names each app uses. */
  secretsCompared: boolean;
  /** Empty when the two are the same. */
  differences: EnvDifference[];
}

export type { Change };

/** What an app runs, as written (no build): the image, the build context, or the command's artifact directory. */
function source(p: Project, a: AppSpec): AppImage {
  if (a.run) return { app: a.name, runtime: "process", ref: a.artifact ? `artifact ${a.artifact.dir.replace(p.dir + "/", "")}` : "none", built: false };
  if (a.build) return { app: a.name, runtime: "docker", ref: `build ${a.build.context.replace(p.dir + "/", "") || "."}`, built: false };
  return { app: a.name, runtime: "docker", ref: a.image!, built: false };
}

/** Compares two loaded projects (the same config, two environments), named `from` and `to`. */
export async function diffEnvironments(a: Project, b: Project, names: { from: string; to: string }): Promise<EnvDiff> {
  const out: EnvDifference[] = [];
  const machines = (p: Project) => Object.values(p.machines).map((m) => `${m.name}=${m.host}`).sort().join(", ");
  const [ma, mb] = [machines(a), machines(b)];
  if (ma !== mb) out.push({ kind: "machines", from: ma, to: mb, text: `machines: ${ma} → ${mb}` });
  // Secret values are compared only when both files can be read; a difference says "differs", never a value.
  const read = async (p: Project): Promise<Secrets | undefined> => readSecrets(p).catch(() => undefined);
  const [sa, sb] = [await read(a), await read(b)];
  const both = Boolean(sa && sb);
  const usesSecrets = [...Object.values(a.apps), ...Object.values(b.apps)].some((x) => Object.keys(x.secrets).length);
  if (usesSecrets && !both) out.push({ kind: "secrets-not-compared", text: "secrets: values not compared (cannot decrypt them here: see `skiff secrets list`); names only" });
  for (const name of [...new Set([...Object.keys(a.apps), ...Object.keys(b.apps)])].sort()) {
    const x = a.apps[name];
    const y = b.apps[name];
    if (!x || !y) {
      const environment = x ? names.from : names.to;
      out.push({ kind: "app-only-in", app: name, environment, text: `${name}: only in ${environment}` });
      continue;
    }
    const pick = (s: Secrets | undefined, app: AppSpec) => Object.fromEntries(Object.entries(app.secrets).map(([env, sec]) => [env, both ? (s![sec] ?? "") : `(${sec})`]));
    const changes = diffSpecs({ ...releaseSpec(a, x, source(a, x), 0, ""), secrets: pick(sa, x) }, { ...releaseSpec(b, y, source(b, y), 0, ""), secrets: pick(sb, y) });
    for (const c of changes) {
      const change = c.note === "changed (value hidden)" ? { ...c, note: "differs (values hidden)" } : c;
      out.push({ kind: "app", app: name, change, text: `${name}: ${formatChange(change)}` });
    }
  }
  return { from: names.from, to: names.to, secretsCompared: both, differences: out };
}
