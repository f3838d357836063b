// skiff diff -e A -e B: how two environments differ — machines, and per app its
// config (env, instances, resources, routes, …); secrets by name, values hidden.
import type { AppImage } from "../build/image.ts";
import { loadProject } from "../config/load.ts";
import type { AppSpec, Project } from "../config/model.ts";
import { UserError } from "../errors.ts";
import { releaseSpec } from "../exec/deploy.ts";
import { diffSpecs, formatChange } from "../plan/diff.ts";
import { readSecrets, type Secrets } from "../secrets/store.ts";
import type { Ctx } from "./context.ts";

/** What an app runs, as written (no build): the image, the build context, or the command's artifact directory. */
function source(p: Project, a: AppSpec): AppImage {
  if (a.run) return { app: a.name, runtime: "process", ref: a.artifact ? `artifact ${a.artifact.dir.replace(p.dir + "/", "")}` : "none", built: false };
  if (a.build) return { app: a.name, runtime: "docker", ref: `build ${a.build.context.replace(p.dir + "/", "") || "."}`, built: false };
  return { app: a.name, runtime: "docker", ref: a.image!, built: false };
}

export async function envDiffCommand(configFile: string | undefined, envs: string[], ctx: Pick<Ctx, "out" | "json">): Promise<number> {
  if (envs.length !== 2) throw new UserError("skiff diff compares two environments", { hint: "skiff diff -e staging -e prod" });
  const [a, b] = envs.map((e) => loadProject({ file: configFile, environment: e === "default" ? undefined : e })) as [Project, Project];
  const lines: string[] = [];
  const ma = Object.values(a.machines).map((m) => `${m.name}=${m.host}`).sort().join(", ");
  const mb = Object.values(b.machines).map((m) => `${m.name}=${m.host}`).sort().join(", ");
  if (ma !== mb) lines.push(`machines: ${ma} → ${mb}`);
  // Secret values are compared only when both files can be read; the output says "differs", never a value.
  const read = async (p: Project): Promise<Secrets | undefined> => readSecrets(p).catch(() => undefined);
  const [sa, sb] = [await read(a), await read(b)];
  const usesSecrets = [...Object.values(a.apps), ...Object.values(b.apps)].some((x) => Object.keys(x.secrets).length);
  if (usesSecrets && (!sa || !sb)) lines.push("secrets: values not compared (cannot decrypt them here: see `skiff secrets list`); names only");
  for (const name of [...new Set([...Object.keys(a.apps), ...Object.keys(b.apps)])].sort()) {
    const x = a.apps[name];
    const y = b.apps[name];
    if (!x || !y) {
      lines.push(`${name}: only in ${x ? envs[0] : envs[1]}`);
      continue;
    }
    const both = Boolean(sa && sb);
    const pick = (s: Secrets | undefined, app: AppSpec) => Object.fromEntries(Object.entries(app.secrets).map(([env, sec]) => [env, both ? (s![sec] ?? "") : `(${sec})`]));
    const changes = diffSpecs({ ...releaseSpec(a, x, source(a, x), 0, ""), secrets: pick(sa, x) }, { ...releaseSpec(b, y, source(b, y), 0, ""), secrets: pick(sb, y) });
    for (const c of changes) lines.push(`${name}: ${formatChange(c).replace("changed (value hidden)", "differs (values hidden)")}`);
  }
  if (ctx.json) ctx.out(JSON.stringify({ from: envs[0], to: envs[1], differences: lines }));
  else ctx.out(lines.length ? [`${envs[0]} → ${envs[1]}:`, ...lines.map((l) => `  ${l}`)].join("\n") : `${envs[0]} and ${envs[1]} are the same`);
  return lines.length ? 2 : 0;
}
