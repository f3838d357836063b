// Cross-field rules, checked after the shape is right. Each rule is small and
// named, and returns every problem it sees instead of stopping at the first.
import type { Path } from "./positions.ts";
import type { ConfigInput } from "./schema.ts";
import { services } from "./services.ts";
import { DEFAULT_METRICS_PORT } from "./model.ts";
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
  services(c).flatMap(({ kind, word, name, app }): Problem[] => {
    const given = (["image", "build", "run"] as const).filter((k) => app[k] !== undefined);
    if (given.length > 1) return [{ path: [kind, name], message: `${word} "${name}" has ${given.map((k) => `"${k}"`).join(" and ")}`, hint: "keep one: image runs a published image, build makes one from source, run starts a command as processes" }];
    if (!given.length) return [{ path: [kind, name], message: `${word} "${name}" needs "image", "build" or "run"`, hint: kind === "apps" ? "e.g. image: nginx:1.27, build: { context: . }, or run: node server.js" : "e.g. image: postgres:15, or run: /usr/lib/postgresql/15/bin/postgres -D data" }];
    const extra = !app.run ? (["artifact", "user"] as const).filter((k) => app[k] !== undefined) : [];
    return extra.map((k) => ({ path: [kind, name], key: k, message: `"${k}" is for process ${kind} (with "run"); ${word} "${name}" runs a container`, hint: `remove "${k}", or replace image/build with run:` }));
  });

/** Apps and accessories share the internal names (NAME.internal), so one name is one of them. */
const namesUnique: Rule = (c) =>
  Object.keys(c.accessories ?? {})
    .filter((name) => has(c.apps, name))
    .map((name) => ({ path: ["accessories"], key: name, message: `"${name}" is both an app and an accessory`, hint: `rename one: both would answer at ${name}.internal` }));

const accessoryMachineExists: Rule = (c) =>
  Object.entries(c.accessories ?? {})
    .filter(([, a]) => !has(c.machines, a.machine))
    .map(([name, a]) => {
      const guess = suggest(a.machine, Object.keys(c.machines ?? {}));
      return { path: ["accessories", name, "machine"], message: `accessory "${name}" names machine "${a.machine}", which is not defined under machines`, hint: guess ? `did you mean "${guess}"?` : undefined };
    });

const hasMachines: Rule = (c) => (Object.keys(c.machines ?? {}).length ? [] : [{ path: ["machines"], message: "no machines: add at least one under machines:", hint: "machines: { web1: { host: 203.0.113.10 } }" }]);

const atMostOneLocal: Rule = (c) => {
  const local = Object.entries(c.machines ?? {}).filter(([, m]) => m.host === "local");
  return local.slice(1).map(([name]) => ({ path: ["machines", name, "host"], message: `machine "${name}" is a second "local" machine; only one machine can be this one` }));
};

/** Written against the document: an overlay for an app that does not exist is a typo. */
export const overlayAppsExist = (doc: ConfigInput): Problem[] =>
  Object.entries(doc.environments ?? {}).flatMap(([env, overlay]) =>
    (["apps", "accessories"] as const).flatMap((kind) =>
      Object.keys(overlay[kind] ?? {})
        .filter((name) => !has(doc[kind], name))
        .map((name) => {
          const guess = suggest(name, Object.keys(doc[kind] ?? {}));
          const word = kind === "apps" ? "app" : "accessory";
          return { path: ["environments", env, kind], key: name, written: true, message: `environment "${env}" overrides ${word} "${name}", which is not defined under ${kind}`, hint: guess ? `did you mean "${guess}"?` : undefined };
        }),
    ),
  );

/** Container paths are absolute; a process app's paths stay inside its working directory. */
const instancePaths: Rule = (c) =>
  services(c).flatMap(({ kind, word, name, app }) =>
    (["files", "volumes"] as const).flatMap((what) => {
      const entries = Object.entries(app[what] ?? {}).map(([k, v]) => (what === "files" ? [k, k] : [k, v as string]) as [string, string]);
      return entries.flatMap(([key, path]): Problem[] => {
        const at = what === "files" ? { path: [kind, name, what], key } : { path: [kind, name, what, key] };
        if (app.run) {
          if (path.startsWith("/") || path.split("/").includes("..")) return [{ ...at, message: `${what === "files" ? "file" : "volume"} path "${path}" of process ${word} "${name}" must be relative to its working directory (no leading / or ..)` }];
        } else if (!path.startsWith("/")) return [{ ...at, message: `${what === "files" ? "file" : "volume"} path "${path}" in a container must be absolute`, hint: `e.g. /${path}` }];
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

/** /metrics is served on private addresses only, and not on a port HAProxy already takes. */
const metricsListen: Rule = (c) => {
  if (!c.metrics?.listen) return [];
  const machines = Object.entries(c.machines ?? {});
  if (!machines.some(([, m]) => m.private_address)) return [{ path: ["metrics", "listen"], message: "metrics.listen needs machines with a private_address: /metrics is served there only", hint: "add private_address to the machines a scraper reaches, or read the numbers with `skiff metrics`" }];
  const port = c.metrics.port ?? DEFAULT_METRICS_PORT;
  return machines.filter(([, m]) => (m.http_port ?? 80) === port).map(([name]) => ({ path: ["metrics", "port"], message: `metrics.port ${port} is machine "${name}"'s http_port`, hint: "choose another port for metrics" }));
};

/** A backup goes to a machine of the project that others can reach (its private_address), and has something to back up. */
const backupTargets: Rule = (c) =>
  services(c).flatMap(({ kind, word, name, app }): Problem[] => {
    const b = app.backups;
    if (!b) return [];
    const out: Problem[] = [];
    // A database's files copied while it runs are not a backup: an accessory says what it is.
    if (kind === "accessories" && !b.kind) out.push({ path: [kind, name, "backups"], message: `backups of accessory "${name}" need a kind`, hint: "kind: postgres (a consistent dump), redis (an RDB), or volumes (its files as they are: only for what is safe to copy while it runs)" });
    if (b.keep && !Object.values(b.keep).some((n) => (n ?? 0) > 0)) out.push({ path: [kind, name, "backups", "keep"], message: `backups of "${name}" keep nothing`, hint: "keep at least one: keep: { last: 3 }, or daily/weekly/monthly" });
    if ((b.kind ?? "volumes") === "volumes" && !Object.keys(app.volumes ?? {}).length) out.push({ path: [kind, name, "backups"], message: `${word} "${name}" backs up its volumes but has none`, hint: kind === "accessories" ? "add volumes:, or kind: postgres for a database" : "add volumes:" });
    if (b.to.startsWith("/") || b.to.startsWith("s3:")) return out;
    const machine = b.to.split(":")[0]!;
    if (!has(c.machines, machine)) {
      const guess = suggest(machine, Object.keys(c.machines ?? {}));
      out.push({ path: [kind, name, "backups", "to"], message: `backups of "${name}" go to machine "${machine}", which is not defined under machines`, hint: guess ? `did you mean "${guess}"?` : "name a machine, an absolute directory or an s3: URL" });
    } else if (!c.machines[machine]!.private_address) out.push({ path: [kind, name, "backups", "to"], message: `backups of "${name}" go to machine "${machine}", which has no private_address: the other machines reach it there (SFTP, port 22)`, hint: `add private_address to ${machine}` });
    return out;
  });

export const RULES: Rule[] = [backupTargets, metricsListen, hasMachines, atMostOneLocal, appHasOneSource, namesUnique, instancePaths, appMachinesExist, accessoryMachineExists, tcpAppShape, tcpPortsUnique];
