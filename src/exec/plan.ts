// The deploy plan from the machines' state and this computer's facts (images
// named from the git commit, secrets, files), reading only: `skiff plan`,
// `skiff deploy --dry-run` and the deploy itself go through `deployPlan` and
// so through the one pure `planDeploy`. Effects are injectable for tests.
import { plannedImages } from "../build/image.ts";
import type { AppSpec, Project } from "../config/model.ts";
import { planDeploy, type DeployInputs } from "../plan/deploy.ts";
import type { DeployPlan } from "../plan/model.ts";
import type { Observed } from "../plan/observed.ts";
import { selectApps } from "../plan/release-spec.ts";
import { appSecrets, readSecrets } from "../secrets/store.ts";
import { withAgentClients, type AgentClient } from "../transport/agent-client.ts";
import { releaseFiles } from "./files.ts";
import { appHasTls, routeCerts, type RouteCert } from "./tls-certs.ts";
import { accountFileShown, accountKeyMissing, appHasAuto, autoCerts, observeAuto } from "./tls-auto.ts";
import { whoAmI } from "./lock.ts";
import { deploySpecs, observe, type ObserveOptions } from "./observe.ts";

/** `certs`: the apps' route certificates with their keys (in memory; the plan gets them without: certPlans). */
export type LocalFacts = Omit<DeployInputs, "apps"> & { certs?: Record<string, RouteCert[]> };

/** What this computer would ship: images as named before any build, secrets and rendered files (in memory). */
export async function localFacts(project: Project, apps: AppSpec[]): Promise<LocalFacts> {
  // Secrets are decrypted here, in memory, and travel to the machines inside the release (RPC on stdin).
  const all = apps.some((a) => Object.keys(a.secrets).length || appHasTls(a)) ? await readSecrets(project) : {};
  const secrets = Object.fromEntries(apps.map((a) => [a.name, appSecrets(project, a, all)]));
  const files = Object.fromEntries(apps.map((a) => [a.name, releaseFiles(project, a, secrets[a.name]!)]));
  const certs = Object.fromEntries(apps.filter(appHasTls).map((a) => [a.name, routeCerts(project, a, all)]));
  return { images: await plannedImages(project, apps), secrets, files, certs, by: whoAmI(), createdAt: new Date().toISOString() };
}

/** The effects a plan is made from; a test passes its own. */
export interface PlanEffects {
  observe?: (clients: AgentClient[], project: Project, opts: ObserveOptions) => Promise<Observed>;
  local?: (project: Project, apps: AppSpec[]) => Promise<LocalFacts>;
}

export interface DeployPlanned {
  plan: DeployPlan;
  observed: Observed;
  facts: LocalFacts;
}

/** Observes and plans a deploy. A printed plan also asks which machines hold the images already. */
export async function deployPlan(clients: AgentClient[], project: Project, opts: { apps: string[]; printed: boolean; unreachable?: string[]; skipUnreachable?: boolean; effects?: PlanEffects }): Promise<DeployPlanned> {
  const apps = selectApps(project, opts.apps);
  const look = (o: Partial<ObserveOptions>) => (opts.effects?.observe ?? observe)(clients, project, { apps: apps.map((a) => a.name), capacity: true, specs: deploySpecs, deploy: true, unreachable: opts.unreachable, skipUnreachable: opts.skipUnreachable, ...o });
  const local = opts.effects?.local ?? localFacts;
  let facts: LocalFacts;
  let observed: Observed;
  if (opts.printed) {
    facts = await local(project, apps);
    observed = await look({ images: facts.images.flatMap((i) => (i.id && i.id !== "none" ? [{ id: i.id, runtime: i.runtime }] : [])), firewall: true });
  } else {
    // This computer and the machines are asked at once: planning adds no wait to a deploy.
    [facts, observed] = await Promise.all([local(project, apps), look({})]);
  }
  // tls: auto: which machines serve a valid certificate already (none: the plan shows one to issue).
  const autoApps = apps.filter(appHasAuto);
  if (autoApps.length) {
    const served = await observeAuto(clients.filter((c) => !opts.unreachable?.includes(c.machine)));
    facts = { ...facts, auto: { certs: Object.fromEntries(autoApps.map((a) => [a.name, autoCerts(project, a)])), served, now: Date.now(), ...(accountKeyMissing(project) ? { accountToMake: accountFileShown(project) } : {}) } };
  }
  return { plan: planDeploy(project, observed, { apps: opts.apps, ...facts }), observed, facts };
}

/** `skiff plan`: what `skiff deploy` would do now, without the deploy lock and changing nothing. */
export async function plan(project: Project, opts: { apps: string[]; skipUnreachable?: boolean; effects?: PlanEffects }): Promise<DeployPlan> {
  return withAgentClients(project, async (clients) => (await deployPlan(clients, project, { ...opts, printed: true })).plan);
}
