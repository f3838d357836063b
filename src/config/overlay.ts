// Environments are overlays resolved here and nowhere else. The result records,
// for every path it took from an overlay, where that path is in the file, so
// later rules can point at the line a person wrote.
import type { ConfigInput, EnvironmentInput } from "./schema.ts";
import type { Path } from "./positions.ts";

export interface Resolved {
  config: ConfigInput;
  /** Resolved path (joined with ".") → path in the document, for overridden parts. */
  origins: Map<string, Path>;
}

export function applyEnvironment(base: ConfigInput, name: string | undefined): Resolved {
  const origins = new Map<string, Path>();
  const { environments, ...rest } = base;
  const config: ConfigInput = structuredClone(rest);
  if (!name) return { config, origins };
  if (!environments || !Object.hasOwn(environments, name)) throw new Error(`environment ${name} is not defined`); // checked by the caller
  const env = environments[name] as EnvironmentInput;
  const from = ["environments", name];

  if (env.machines) {
    config.machines = structuredClone(env.machines);
    origins.set("machines", [...from, "machines"]);
  }
  if (env.alerts) {
    config.alerts = structuredClone(env.alerts);
    origins.set("alerts", [...from, "alerts"]);
  }
  if (env.metrics) {
    config.metrics = structuredClone(env.metrics);
    origins.set("metrics", [...from, "metrics"]);
  }
  if (env.env) {
    config.env = { ...config.env, ...env.env };
    for (const k of Object.keys(env.env)) origins.set(`env.${k}`, [...from, "env", k]);
  }
  for (const kind of ["apps", "accessories"] as const) {
    const targets = config[kind] as Record<string, Record<string, unknown>> | undefined;
    for (const [name, over] of Object.entries(env[kind] ?? {})) {
      // Own keys only: an overlay for "constructor" must not write into Object.prototype.constructor.
      const target = targets && Object.hasOwn(targets, name) ? targets[name] : undefined;
      if (!target) continue; // reported by the rules against the overlay itself
      for (const [key, value] of Object.entries(over)) {
        if (value === undefined) continue;
        const at = [...from, kind, name, key];
        if (key === "env") {
          target.env = { ...(target.env as object), ...(value as Record<string, string>) };
          for (const k of Object.keys(value as object)) origins.set(`${kind}.${name}.env.${k}`, [...at, k]);
        } else {
          target[key] = structuredClone(value);
          origins.set(`${kind}.${name}.${key}`, at);
        }
      }
    }
  }
  return { config, origins };
}

/** The document path a resolved path came from: the longest overridden prefix wins. */
export function originOf(origins: Map<string, Path>, path: Path): Path {
  for (let n = path.length; n > 0; n--) {
    const hit = origins.get(path.slice(0, n).join("."));
    if (hit) return [...hit, ...path.slice(n)];
  }
  return path;
}
