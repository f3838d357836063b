// skiff scale app=N: lock → observe → plan (the active release with a new
// instance count and the placement that gives, recorded as a release of its
// own) → store → rollout like a deploy → unlock. Nothing is built: the image
// (or artifact) and config stay as they are. With dryRun: observe and plan only.
import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { ArtifactCache } from "../build/artifact-cache.ts";
import { hashTree } from "../contracts/artifact.ts";
import { localImageId, type AppImage } from "../build/image.ts";
import type { Project } from "../config/model.ts";
import type { ReleaseSpec } from "../contracts/model.ts";
import { UserError } from "../errors.ts";
import { ship, type ShipImage } from "../ship/ship.ts";
import type { Reporter } from "../contracts/events.ts";
import type { ScalePlan } from "../plan/model.ts";
import type { Observed } from "../plan/observed.ts";
import { knownInstances, previousReleases, selectApps } from "../plan/release-spec.ts";
import { planScale, scaledSpec, type ScaleTarget } from "../plan/scale.ts";
import { withAgentClients, type AgentClient } from "../transport/agent-client.ts";
import { putRelease } from "./deploy.ts";
import { syncAlerts } from "./alerts.ts";
import { syncFirewall } from "./firewall.ts";
import { whoAmI, withDeployLock } from "./lock.ts";
import { deploySpecs, observe } from "./observe.ts";
import type { PlanEffects } from "./plan.ts";
import { rollout, type RolloutResult } from "./rollout.ts";

export interface ScaleOptions {
  reporter: Reporter;
  interrupted?: () => boolean;
  dryRun?: boolean;
  effects?: Pick<PlanEffects, "observe">;
}

export interface ScaleOutcome {
  app: string;
  from: number;
  to: number;
  release: number;
  placement: Record<string, number>;
  result: RolloutResult;
}

export interface ScaleResult {
  plan: ScalePlan;
  dryRun: boolean;
  outcomes: ScaleOutcome[];
}

async function observeAndPlan(clients: AgentClient[], project: Project, targets: ScaleTarget[], opts: ScaleOptions, meta: { by: string; createdAt: string }): Promise<{ plan: ScalePlan; observed: Observed }> {
  const apps = targets.map((t) => t.app);
  const observed = await (opts.effects?.observe ?? observe)(clients, project, { apps, capacity: true, specs: deploySpecs, deploy: true });
  return { plan: planScale(project, observed, { targets, ...meta }), observed };
}

/** Sends the release's image (or artifact) to those of `clients` that lack it, from this computer. */
/** Ships the release's image or artifact to the machines that lack it (`to`): from this computer when it has it,
 *  else relayed from a machine of the project that has it (`all`), through this computer, checked where it lands. */
async function shipTo(project: Project, spec: ReleaseSpec, to: AgentClient[], all: AgentClient[], reporter: Reporter): Promise<void> {
  if (spec.imageId === "none") return; // a process app without an artifact
  const has = (c: AgentClient) => c.call<boolean>("image.has", { image: spec.imageId, runtime: spec.runtime });
  const there = await Promise.all(to.map(has));
  const lacking = to.filter((_, i) => !there[i]);
  if (!lacking.length) return;
  const img: ShipImage = { app: spec.app, runtime: spec.runtime ?? "docker", ref: spec.image, id: spec.imageId, built: false };
  if (!(await onThisComputer(project, spec, img))) {
    const others = all.filter((c) => !lacking.includes(c));
    const holders = await Promise.all(others.map((c) => has(c).catch(() => false)));
    const from = others.find((_, i) => holders[i]);
    if (!from) throw notHere(spec, lacking);
    img.relayFrom = from;
    reporter.emit({ type: "note", message: `${spec.app}: the ${spec.runtime === "process" ? "artifact" : "image"} of release ${spec.release} is not on this computer; relaying it from ${from.machine}` });
  }
  await ship([img], lacking, reporter);
}

/** Points `img` at the release's image or artifact on this computer; false when it is not here. */
async function onThisComputer(project: Project, spec: ReleaseSpec, img: AppImage): Promise<boolean> {
  if (spec.runtime === "process") {
    const hash = spec.imageId.slice("artifact:".length);
    img.tarball = ArtifactCache.of(project.dir).tarball(hash);
    // An artifact without a build command is its directory as it is: packed from there when it still hashes the same.
    const dir = project.apps[spec.app]?.artifact?.dir;
    if (!img.tarball && dir && existsSync(dir) && hashTree(dir) === hash) img.dir = dir;
    return Boolean(img.tarball || img.dir);
  }
  if ((await localImageId(spec.image)) === spec.imageId) return true;
  if ((await localImageId(spec.imageId)) !== spec.imageId) return false;
  img.ref = spec.imageId;
  return true;
}

function notHere(spec: ReleaseSpec, lacking: AgentClient[]): UserError {
  const names = lacking.map((c) => c.machine).join(", ");
  return new UserError(`${spec.app} release ${spec.release}: ${names} would run it for the first time, but its ${spec.runtime === "process" ? "artifact" : "image"} ${spec.image} is neither on this computer nor on any machine of the project; nothing was changed`, {
    hint: "run `skiff deploy` (it builds and ships to every machine the app is placed on), or scale from the computer that deployed it",
  });
}

export async function scale(project: Project, targets: ScaleTarget[], opts: ScaleOptions): Promise<ScaleResult> {
  for (const a of selectApps(project, targets.map((t) => t.app))) {
    if (a.accessory) throw new UserError(`${a.name} is an accessory: one instance on ${a.accessory.machine}, never scaled`, { hint: `\`skiff accessory stop ${a.name}\` stops it; run another accessory for a replica` });
  }
  const meta = { by: whoAmI(), createdAt: new Date().toISOString() };
  if (opts.dryRun) {
    return withAgentClients(project, async (clients) => ({ plan: (await observeAndPlan(clients, project, targets, opts, meta)).plan, dryRun: true, outcomes: [] }));
  }
  const deployId = randomUUID();
  return withDeployLock(project, `scale ${targets.map((t) => `${t.app}=${t.instances}`).join(" ")}`, {}, async (lock) => {
    // Before anything moves: a machine whose firewall cannot be set is named now, not half way through.
    await syncFirewall(lock.clients, project, opts.reporter);
    await syncAlerts(lock.clients, project, opts.reporter);
    const { plan, observed } = await observeAndPlan(lock.clients, project, targets, opts, meta);
    const outcomes: ScaleOutcome[] = [];
    for (const a of plan.apps) {
      const app = project.apps[a.app]!;
      const spec = { ...scaledSpec(project, observed, { app: a.app, instances: a.to }, meta).spec, release: a.release };
      // Images and artifacts go only where an app is placed: a machine that runs it for the first time gets it now.
      await shipTo(project, spec, lock.clients.filter((c) => (a.placement[c.machine] ?? 0) > 0), lock.clients, opts.reporter);
      // A machine that now runs instances gets the full spec (secrets included) with this new release.
      await putRelease(lock.clients, spec);
      const result = await rollout({
        project: project.name, app: a.app, target: a.release, previous: previousReleases(observed, a.app), known: knownInstances(observed, a.app), clients: lock.clients, waves: a.batches, placement: a.placement,
        action: "scale", deployId, by: meta.by, keepWarm: app.deploy.keepWarm, tcp: app.protocol === "tcp", reporter: opts.reporter, interrupted: opts.interrupted ?? (() => false), checkLock: lock.check,
      });
      outcomes.push({ app: a.app, from: a.from, to: a.to, release: a.release, placement: a.placement, result });
      if (!result.ok) break;
    }
    return { plan, dryRun: false, outcomes };
  });
}
