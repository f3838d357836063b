// Pure: the release spec a deploy stores, what each machine keeps of it, and
// which number it gets (an identical release already stored is reused, so a
// re-run converges; else the next number).
import { localCount, type ReleaseSpec } from "../contracts/model.ts";
import type { InstanceList } from "../contracts/activate.ts";
import { comparable, withoutSecrets } from "../contracts/release-secrets.ts";
import type { AppImage } from "../build/image.ts";
import type { AppSpec, Project } from "../config/model.ts";
import { UserError } from "../errors.ts";
import { candidateReleases, type Observed } from "./observed.ts";

export type ReleaseFile = { path: string; mode: number; content: string };

/** The apps named (all when none are), in the order named; an unknown name is a UserError. `appsOnly`: with no
 *  names, the apps without the accessories (a restart or rollback of "everything" leaves the databases be; they
 *  go only when named). */
export function selectApps(project: Project, names: string[], opts: { appsOnly?: boolean } = {}): AppSpec[] {
  const all = Object.values(project.apps);
  if (!all.length) throw new UserError("no apps in skiff.yml", { hint: "add one under apps:" });
  if (!names.length && opts.appsOnly) {
    const apps = all.filter((a) => !a.accessory);
    if (!apps.length) throw new UserError("no apps in skiff.yml, only accessories: name the one you mean", { hint: `e.g. skiff accessory restart ${all[0]!.name}` });
    return apps;
  }
  if (!names.length) return all;
  return names.map((n) => {
    const a = Object.hasOwn(project.apps, n) ? project.apps[n] : undefined;
    if (!a) throw new UserError(`no app named "${n}"`, { hint: `apps: ${Object.keys(project.apps).join(", ")}` });
    return a;
  });
}

export interface SpecInputs {
  release: number;
  by: string;
  secrets?: Record<string, string>;
  placement?: Record<string, number>;
  /** Rendered files (exec/files.ts reads them). */
  files?: ReleaseFile[];
  createdAt: string;
}

export function draftSpec(project: Project, app: AppSpec, image: AppImage, i: SpecInputs): ReleaseSpec {
  const { secrets, placement } = i;
  return {
    project: project.name,
    app: app.name,
    release: i.release,
    runtime: image.runtime,
    image: image.ref,
    imageId: image.id!,
    command: app.run,
    user: app.user,
    limits: app.resources.cpus === undefined && app.resources.memoryBytes === undefined ? undefined : { cpus: app.resources.cpus, memoryBytes: app.resources.memoryBytes },
    port: app.port,
    // Absent for HTTP apps, so their releases stay identical to the ones stored before TCP apps existed.
    ...(app.protocol === "tcp" ? { protocol: "tcp" as const, internalPort: app.internalPort } : {}),
    instances: placement ? Object.values(placement).reduce((a, b) => a + b, 0) : (app.instances ?? 1),
    ...(placement ? { placement } : {}),
    env: app.env,
    ...(secrets && Object.keys(secrets).length ? { secrets } : {}),
    ...(app.files.length ? { files: i.files ?? [] } : {}),
    ...(app.volumes.length ? { volumes: app.volumes } : {}),
    ...(app.hooks.preDeploy ? { preDeploy: { command: app.hooks.preDeploy, timeoutMs: app.hooks.timeoutMs } } : {}),
    health: app.health,
    // Where a route's certificate comes from stays out of the release: only that it is HTTPS, and its HSTS.
    routes: app.routes.map((r) => (r.tls ? { host: r.host, path: r.path, tls: r.tls.hstsS !== undefined ? { hstsS: r.tls.hstsS } : {} } : { host: r.host, path: r.path })),
    drainMs: app.deploy.drainMs,
    stopTimeoutS: app.deploy.stopTimeoutS,
    keepReleases: app.deploy.keepReleases,
    // Absent at the default, so releases stay identical to the ones stored before logs had a bound.
    ...(app.logMaxBytes !== undefined ? { logs: { maxBytes: app.logMaxBytes } } : {}),
    probationMs: app.deploy.probationMs,
    ...(app.accessory ? { stopFirst: true as const } : {}),
    ...(app.stopSignal ? { stopSignal: app.stopSignal } : {}),
    git: image.git ? { commit: image.git.commit, dirty: image.git.dirty } : undefined,
    createdBy: i.by,
    createdAt: i.createdAt,
  };
}

/** What a machine stores of a release: the secret values and files only where the app has instances. */
export function specFor(spec: ReleaseSpec, machine: string): ReleaseSpec {
  return localCount(spec, machine) > 0 ? spec : withoutSecrets(spec);
}

/** The part of a spec that decides whether two releases are the same thing (a copy without secrets counts as the full one). */
const identity = (s: ReleaseSpec) => comparable({ ...s, release: 0, git: undefined });

/** Reuses the number of an identical release among the newest stored anywhere (as the first machine that lists
 *  it holds it); else the next number. */
export function chooseRelease(o: Observed, spec: ReleaseSpec): { release: number; existing: boolean } {
  for (const n of candidateReleases(o, spec.app)) {
    const holder = o.machines.find((m) => m.apps[spec.app]?.releases.includes(n));
    const existing = holder?.specs[spec.app]?.[n];
    if (existing && identity(existing) === identity({ ...spec, release: n })) return { release: n, existing: true };
  }
  return { release: Math.max(0, ...o.machines.flatMap((m) => m.apps[spec.app]?.releases ?? [])) + 1, existing: false };
}

/** Release active on each machine now (null: none): where a failed rollout returns each machine. */
export const previousReleases = (o: Observed, app: string): Map<string, number | null> => new Map(o.machines.map((m) => [m.machine, m.apps[app]?.active ?? null]));

/** The app's instances and peers on each machine, as the plan read them (machines whose agent sent none are left out). */
export const knownInstances = (o: Observed, app: string): Map<string, InstanceList> =>
  new Map(o.machines.flatMap((m) => (m.apps[app]?.list ? [[m.machine, m.apps[app]!.list!] as const] : [])));
