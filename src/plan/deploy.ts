// Pure: what a deploy will do, from the config, what this computer would ship
// (images named from the git commit, secrets and files in memory) and the
// machines' saved state. `skiff plan`, `skiff deploy --dry-run` and the deploy
// itself all call this one function.
import { localCount, type ReleaseSpec } from "../contracts/model.ts";
import type { AppImage } from "../build/image.ts";
import type { AppSpec, Project } from "../config/model.ts";
import { diffSpecs } from "./diff.ts";
import { firewallChanges } from "./firewall.ts";
import { rolloutWaves, type CertPlan, type AppDeployPlan, type ArtifactPlan, type DeployPlan, type HookPlan, type MachineChange } from "./model.ts";
import { activeSpec, specOn, type Observed } from "./observed.ts";
import { nameChanges } from "./names.ts";
import { placeApp, withReserved } from "./placement.ts";
import { chooseRelease, draftSpec, previousReleases, selectApps, specFor, type ReleaseFile } from "./release-spec.ts";

export type PlannedImage = AppImage & { note?: string };

export interface DeployInputs {
  apps: string[];
  /** Images and artifacts as the deploy names them, before anything is built (build/image.ts plannedImages). */
  images: PlannedImage[];
  /** Secret values per app: compared in memory, never copied into the plan. */
  secrets: Record<string, Record<string, string>>;
  /** Rendered files per app: compared in memory, never copied into the plan. */
  files: Record<string, ReleaseFile[]>;
  /** HTTPS certificates per app (exec/tls-certs.ts); the plan copies what it shows of them, never a key. */
  certs?: Record<string, { hosts: string[]; file: string; notAfter: string }[]>;
  /** tls: auto certificates per app (exec/tls-auto.ts), what each machine serves of them, and the account key file
   *  when it does not exist yet. */
  auto?: { certs: Record<string, { id: string; hosts: string[] }[]>; served: Record<string, { id: string; notAfter?: string }[]>; accountToMake?: string; now: number };
  by: string;
  createdAt: string;
}

/** What a machine would store, compared with what it runs: the image ID counts only when known. */
export function machineChanges(o: Observed, app: string, want: ReleaseSpec): MachineChange[] {
  return o.machines.map((m) => {
    const from = m.apps[app]?.active ?? null;
    const spec = specOn(m, app, from);
    const changes = diffSpecs(spec ?? undefined, { ...specFor(want, m.machine), imageId: want.imageId ?? "" });
    return { machine: m.machine, from, changes, start: changes.length ? localCount(want, m.machine) : 0, stop: changes.length && spec ? localCount(spec, m.machine) : 0 };
  });
}

/** The spec this deploy stores for an app (release 0: the number is chosen against the machines' releases). */
export function wantedSpec(project: Project, app: AppSpec, image: AppImage, placement: Record<string, number>, i: Omit<DeployInputs, "apps" | "images">): ReleaseSpec {
  return draftSpec(project, app, image, { release: 0, by: i.by, secrets: i.secrets[app.name], placement, files: i.files[app.name], createdAt: i.createdAt });
}

/** The pre_deploy hook (migrations): once, on the first machine that runs the app (it has the secrets), before any
 *  traffic moves — and only when the release is not already active everywhere (a re-run that changes nothing runs
 *  nothing). */
export function hookFor(want: ReleaseSpec, release: number | "new", previous: Map<string, number | null>): HookPlan | undefined {
  if (!want.preDeploy || ![...previous.values()].some((a) => a !== release)) return undefined;
  const names = [...previous.keys()];
  const machine = names.find((n) => localCount(want, n) > 0) ?? names[0];
  return machine === undefined ? undefined : { machine, command: want.preDeploy.command };
}

function artifactPlan(app: AppSpec, image: PlannedImage, o: Observed): ArtifactPlan {
  const build = Boolean(app.artifact?.build) || Boolean(app.build && !image.id);
  // "none": a process app without an artifact ships nothing.
  const asked = image.id !== undefined && image.id !== "none" && o.machines.every((m) => m.images);
  return {
    ref: image.ref,
    runtime: image.runtime,
    ...(image.id ? { id: image.id } : {}),
    build,
    ...(asked ? { present: o.machines.filter((m) => m.images!.includes(image.id!)).map((m) => m.machine) } : {}),
    ...(image.note ? { note: image.note } : {}),
  };
}

function planApp(project: Project, app: AppSpec, o: Observed, i: DeployInputs): AppDeployPlan {
  const placement = placeApp(project, app, o, { current: activeSpec(o, app.name) });
  const image = i.images.find((x) => x.app === app.name)!;
  const artifact = artifactPlan(app, image, o);
  const want = wantedSpec(project, app, image, placement, i);
  // The number is known now unless the build decides the image's ID.
  const known = image.id !== undefined && !artifact.build;
  const chosen = known ? chooseRelease(o, want) : undefined;
  const release = chosen ? chosen.release : "new";
  const machines = machineChanges(o, app.name, want);
  const machineNames = o.machines.map((m) => m.machine);
  const hook = hookFor(want, release, previousReleases(o, app.name));
  // A machine that holds the app with no active release (a failed first deploy) serves no name either.
  const names = nameChanges(activeSpec(o, app.name), want);
  return {
    app: app.name,
    release,
    reused: chosen?.existing ?? false,
    image: artifact,
    placement,
    machines,
    ...(hook ? { hook } : {}),
    // An accessory's machine goes alone, first: where it ran before (a move) changes only once it serves there.
    batches: app.accessory ? [[app.accessory.machine], machineNames.filter((m) => m !== app.accessory!.machine)].filter((w) => w.length) : rolloutWaves(machineNames, app.deploy.maxParallel, app.deploy.canary, (m) => (placement[m] ?? 0) > 0),
    ...(app.deploy.canaryWaitMs > 0 ? { canaryWaitMs: app.deploy.canaryWaitMs } : {}),
    ...certPlans(project, app.name, placement, i),
    ...(names.length ? { names } : {}),
    ...(app.accessory ? { accessory: accessoryPlan(app.accessory.machine, machines, app.backups?.kind) } : {}),
  };
}

/** An accessory stops when a release of it runs somewhere and changes: on its machine (a restart) or elsewhere
 *  (it moves; its volumes stay behind). Its first start stops nothing. */
export function accessoryPlan(machine: string, machines: MachineChange[], backups?: "postgres" | "redis" | "volumes"): NonNullable<AppDeployPlan["accessory"]> {
  const movesFrom = machines.filter((m) => m.machine !== machine && m.stop > 0).map((m) => m.machine);
  const restarts = machines.some((m) => m.stop > 0 && m.changes.length > 0);
  // With backups, a move takes the data along (a last backup where it ran, restored where it goes): exec/deploy.ts.
  return { machine, restarts, ...(movesFrom.length ? { movesFrom, ...(backups ? { dataFollows: backups } : {}) } : {}) };
}

/** The accessories a deploy would stop, in words, for the refusal without --yes (empty: none). */
export function accessoryStops(p: DeployPlan): string[] {
  return p.apps.flatMap((a) => {
    const x = a.accessory;
    if (!x?.restarts) return [];
    return [x.movesFrom ? `${a.app} moves from ${x.movesFrom.join(", ")} to ${x.machine} (${x.dataFollows ? "its data follows through a backup and a restore" : "its volumes stay behind"})` : `${a.app} restarts on ${x.machine}`];
  });
}

export function planDeploy(project: Project, o: Observed, i: DeployInputs): DeployPlan {
  const planned: AppDeployPlan[] = [];
  let seen = o;
  for (const a of selectApps(project, i.apps)) {
    const p = planApp(project, a, seen, i);
    planned.push(p);
    // The next app is placed around this one's new instances.
    if (o.machines.every((m) => m.capacity)) seen = withReserved(project, seen, a.name, a.resources, p.placement);
  }
  const firewall = firewallChanges(project, o);
  return { action: "deploy", project: project.name, apps: planned, skipped: o.unreachable, ...(firewall.length ? { firewall } : {}) };
}

/** What the plan shows of an app's certificates: from the repo, and tls: auto (to issue when none of the app's
 *  machines serves a valid one). */
function certPlans(project: Project, app: string, placement: Record<string, number>, i: Omit<DeployInputs, "apps" | "images">): { certs?: CertPlan[] } {
  const repo = (i.certs?.[app] ?? []).map((c): CertPlan => ({ hosts: [...c.hosts], source: "repo", file: c.file, notAfter: c.notAfter }));
  const a = i.auto;
  const auto = (a?.certs[app] ?? []).map((c): CertPlan => {
    const served = Object.keys(placement)
      .filter((m) => (placement[m] ?? 0) > 0)
      .sort()
      .flatMap((m) => {
        const s = a!.served[m]?.find((x) => x.id === c.id);
        return s?.notAfter && Date.parse(s.notAfter) > a!.now ? [{ machine: m, notAfter: s.notAfter }] : [];
      });
    return { hosts: [...c.hosts], source: "acme", directory: project.acme.directory, issue: served.length === 0, served, ...(a!.accountToMake ? { account: a!.accountToMake } : {}) };
  });
  const all = [...repo, ...auto];
  return all.length ? { certs: all } : {};
}
