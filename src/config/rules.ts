// Cross-field rules, checked after the shape is right. Each rule is small and
// named, and returns every problem it sees instead of stopping at the first.
import type { Path } from "./positions.ts";
import type { ConfigInput } from "./schema.ts";
import { suggest } from "./suggest.ts";
import { tcpAppShape, tcpPortsUnique } from "./tcp-rules.ts";

export interface Problem {
  /** Path in the resolved config, or `doc:`-prefixed path in the document as written. */
  path: Path;
  /** Point at this key of the map at `path` instead of at its value. */
  key?: string;
  message: string;
  hint?: string;
  /** The path is in the document as written (not mapped through overlays). */
  written?: boolean;
}

type Rule = (c: ConfigInput) => Problem[];

// Names from the file are looked up with Object.hasOwn: `machines: [constructor]` must not find Object's.
const has = (o: object | undefined, name: string) => o !== undefined && Object.hasOwn(o, name);

const appHasOneSource: Rule = (c) =>
  Object.entries(c.apps ?? {}).flatMap(([name, app]): Problem[] => {
    const given = (["image", "build", "run"] as const).filter((k) => app[k] !== undefined);
    if (given.length > 1) return [{ path: ["apps", name], message: `app "${name}" has ${given.map((k) => `"${k}"`).join(" and ")}`, hint: "keep one: image runs a published image, build makes one from source, run starts a command as processes" }];
    if (!given.length) return [{ path: ["apps", name], message: `app "${name}" needs "image", "build" or "run"`, hint: 'e.g. image: nginx:1.27, build: { context: . }, or run: node server.js' }];
    const extra = !app.run ? (["artifact", "user"] as const).filter((k) => app[k] !== undefined) : [];
    return extra.map((k) => ({ path: ["apps", name], key: k, message: `"${k}" is for process apps (with "run"); app "${name}" runs a container`, hint: `remove "${k}", or replace image/build with run:` }));
  });

const hasMachines: Rule = (c) => (Object.keys(c.machines ?? {}).length ? [] : [{ path: ["machines"], message: "no machines: add at least one under machines:", hint: "machines: { web1: { host: 203.0.113.10 } }" }]);

const atMostOneLocal: Rule = (c) => {
  const local = Object.entries(c.machines ?? {}).filter(([, m]) => m.host === "local");
  return local.slice(1).map(([name]) => ({ path: ["machines", name, "host"], message: `machine "${name}" is a second "local" machine; only one machine can be this one` }));
};

/** Written against the document: an overlay for an app that does not exist is a typo. */
export const overlayAppsExist = (doc: ConfigInput): Problem[] =>
  Object.entries(doc.environments ?? {}).flatMap(([env, overlay]) =>
    Object.keys(overlay.apps ?? {})
      .filter((app) => !has(doc.apps, app))
      .map((app) => {
        const guess = suggest(app, Object.keys(doc.apps ?? {}));
        return { path: ["environments", env, "apps"], key: app, written: true, message: `environment "${env}" overrides app "${app}", which is not defined under apps`, hint: guess ? `did you mean "${guess}"?` : undefined };
      }),
  );

/** Container paths are absolute; a process app's paths stay inside its working directory. */
const instancePaths: Rule = (c) =>
  Object.entries(c.apps ?? {}).flatMap(([name, app]) =>
    (["files", "volumes"] as const).flatMap((kind) => {
      const entries = Object.entries(app[kind] ?? {}).map(([k, v]) => (kind === "files" ? [k, k] : [k, v as string]) as [string, string]);
      return entries.flatMap(([key, path]): Problem[] => {
        const at = kind === "files" ? { path: ["apps", name, kind], key } : { path: ["apps", name, kind, key] };
        if (app.run) {
          if (path.startsWith("/") || path.split("/").includes("..")) return [{ ...at, message: `${kind === "files" ? "file" : "volume"} path "${path}" of process app "${name}" must be relative to its working directory (no leading / or ..)` }];
        } else if (!path.startsWith("/")) return [{ ...at, message: `${kind === "files" ? "file" : "volume"} path "${path}" in a container must be absolute`, hint: `e.g. /${path}` }];
        return [];
      });
    }),
  );

const appMachinesExist: Rule = (c) =>
  Object.entries(c.apps ?? {}).flatMap(([name, app]) =>
    (app.machines ?? [])
      .filter((m) => !has(c.machines, m))
      .map((m) => {
        const guess = suggest(m, Object.keys(c.machines ?? {}));
        return { path: ["apps", name, "machines"], message: `app "${name}" names machine "${m}", which is not defined under machines`, hint: guess ? `did you mean "${guess}"?` : undefined };
      }),
  );

export const RULES: Rule[] = [hasMachines, atMostOneLocal, appHasOneSource, instancePaths, appMachinesExist, tcpAppShape, tcpPortsUnique];
