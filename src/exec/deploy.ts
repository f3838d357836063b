// skiff deploy: lock → build → ship → per app: store the release everywhere,
// roll it out machine batch by machine batch → unlock. Each machine always
// serves one complete release; a failure returns switched machines to theirs.
import { randomUUID } from "node:crypto";
import { localCount, type ReleaseSpec } from "../contracts/model.ts";
import { comparable, withoutSecrets } from "../contracts/release-secrets.ts";
import { buildApps, type AppImage } from "../build/image.ts";
import type { AppSpec, Project } from "../config/model.ts";
import { UserError } from "../errors.ts";
import { appSecrets, readSecrets } from "../secrets/store.ts";
import { releaseFiles } from "./files.ts";
import { activeSpec, placeApp } from "./placement.ts";
import { ship } from "../ship/ship.ts";
import type { AgentClient } from "../transport/agent-client.ts";
import type { Reporter } from "../contracts/events.ts";
import { whoAmI, withDeployLock } from "./lock.ts";
import { rollout, runJob, type RolloutResult } from "./rollout.ts";

export interface DeployOptions {
  apps: string[];
  skipUnreachable?: boolean;
  waitForLock?: boolean;
  reporter: Reporter;
  /** Set by the CLI on Ctrl-C: no new machine batch starts; switched machines go back. */
  interrupted?: () => boolean;
}

export interface AppOutcome {
  app: string;
  release: number;
  image: string;
  result: RolloutResult | { ok: true; unchanged: true };
}

export function selectApps(project: Project, names: string[]): AppSpec[] {
  const all = Object.values(project.apps);
  if (!all.length) throw new UserError("no apps in skiff.yml", { hint: "add one under apps:" });
  if (!names.length) return all;
  return names.map((n) => {
    const a = project.apps[n];
    if (!a) throw new UserError(`no app named "${n}"`, { hint: `apps: ${Object.keys(project.apps).join(", ")}` });
    return a;
  });
}

/** The part of a spec that decides whether two releases are the same thing (a copy without secrets counts as the full one). */
const identity = (s: ReleaseSpec) => comparable({ ...s, release: 0, git: undefined });

/** What a machine stores of a release: the secret values and files only where the app has instances. */
export function specFor(spec: ReleaseSpec, machine: string): ReleaseSpec {
  return localCount(spec, machine) > 0 ? spec : withoutSecrets(spec);
}

/** Stores the release on every machine, each with what it may hold (see specFor). */
export async function putRelease(clients: AgentClient[], spec: ReleaseSpec): Promise<void> {
  await Promise.all(clients.map((c) => c.call("release.put", { spec: specFor(spec, c.machine) })));
}

export function releaseSpec(project: Project, app: AppSpec, image: AppImage, release: number, by: string, secrets?: Record<string, string>, placement?: Record<string, number>): ReleaseSpec {
  return {
    project: project.name,
    app: app.name,
    release,
    runtime: image.runtime,
    image: image.ref,
    imageId: image.id!,
    command: app.run,
    user: app.user,
    limits: app.resources.cpus === undefined && app.resources.memoryBytes === undefined ? undefined : { cpus: app.resources.cpus, memoryBytes: app.resources.memoryBytes },
    port: app.port,
    instances: placement ? Object.values(placement).reduce((a, b) => a + b, 0) : (app.instances ?? 1),
    ...(placement ? { placement } : {}),
    env: app.env,
    ...(secrets && Object.keys(secrets).length ? { secrets } : {}),
    ...(app.files.length ? { files: releaseFiles(project, app, secrets ?? {}) } : {}),
    ...(app.volumes.length ? { volumes: app.volumes } : {}),
    ...(app.hooks.preDeploy ? { preDeploy: { command: app.hooks.preDeploy, timeoutMs: app.hooks.timeoutMs } } : {}),
    health: app.health,
    routes: app.routes,
    drainMs: app.deploy.drainMs,
    stopTimeoutS: app.deploy.stopTimeoutS,
    keepReleases: app.deploy.keepReleases,
    probationMs: app.deploy.probationMs,
    git: image.git ? { commit: image.git.commit, dirty: image.git.dirty } : undefined,
    createdBy: by,
    createdAt: new Date().toISOString(),
  };
}

/** Reuses the number of an identical release that exists anywhere (a re-run converges); else the next number. */
export async function chooseRelease(clients: AgentClient[], project: string, spec: ReleaseSpec): Promise<{ release: number; existing: boolean; previous: Map<string, number | null> }> {
  const lists = await Promise.all(clients.map((c) => c.call<{ releases: number[]; active: number | null }>("release.list", { project, app: spec.app })));
  const previous = new Map(clients.map((c, i) => [c.machine, lists[i]!.active]));
  const candidates = [...new Set(lists.flatMap((l) => l.releases))].sort((a, b) => b - a).slice(0, 3);
  for (const n of candidates) {
    for (const [i, c] of clients.entries()) {
      if (!lists[i]!.releases.includes(n)) continue;
      const existing = await c.call<ReleaseSpec | null>("release.get", { project, app: spec.app, release: n });
      if (existing && identity(existing) === identity({ ...spec, release: n })) return { release: n, existing: true, previous };
      break;
    }
  }
  return { release: Math.max(0, ...lists.flatMap((l) => l.releases)) + 1, existing: false, previous };
}

export async function deploy(project: Project, opts: DeployOptions): Promise<{ outcomes: AppOutcome[]; skipped: string[] }> {
  const apps = selectApps(project, opts.apps);
  const by = whoAmI();
  const deployId = randomUUID();
  const command = `deploy ${apps.map((a) => a.name).join(" ")}`;
  return withDeployLock(project, command, { skipUnreachable: opts.skipUnreachable, waitMs: opts.waitForLock ? 10 * 60_000 : 0 }, async (lock) => {
    const outcomes: AppOutcome[] = [];
    for (const u of lock.unreachable) opts.reporter.emit({ type: "note", machine: u.machine, message: "unreachable, skipped (--skip-unreachable)" });
    // Secrets are decrypted here, in memory, and travel to the machines inside the release (RPC on stdin).
    const secrets = apps.some((a) => Object.keys(a.secrets).length) ? await readSecrets(project) : {};
    const appSecretValues = new Map(apps.map((a) => [a.name, appSecrets(project, a, secrets)]));
    // Placement before anything is built or shipped: what does not fit is refused here.
    const placements = new Map<string, Record<string, number>>();
    for (const a of apps) placements.set(a.name, await placeApp(project, a, lock.clients, { current: await activeSpec(project.name, a.name, lock.clients) }));
    const images = await buildApps(project, apps, opts.reporter);
    await ship(images, lock.clients, opts.reporter);
    for (const app of apps) {
      const image = images.find((i) => i.app === app.name)!;
      const draft = releaseSpec(project, app, image, 0, by, appSecretValues.get(app.name), placements.get(app.name));
      const { release, previous } = await chooseRelease(lock.clients, project.name, draft);
      const spec = { ...draft, release };
      await putRelease(lock.clients, spec);
      const lost = await lock.check();
      if (lost) throw new UserError(`stopped before ${app.name} release ${release} took traffic anywhere: ${lost}`, { hint: "`skiff lock status` shows who holds it now" });
      // The pre_deploy hook (migrations): once, on the first machine that runs the app (it has the secrets),
      // before any traffic moves — and only when the release is not already active everywhere (a re-run that
      // changes nothing runs nothing).
      if (spec.preDeploy && [...previous.values()].some((a) => a !== release)) {
        const c = lock.clients.find((x) => localCount(spec, x.machine) > 0) ?? lock.clients[0]!;
        const started = Date.now();
        opts.reporter.emit({ type: "step", machine: c.machine, step: `${app.name}: pre_deploy (${spec.preDeploy.command})`, status: "start" });
        const h = await runJob<{ ok: boolean; output: string; reason?: string }>(c, "hook.run", { project: project.name, app: app.name, release, machine: c.machine, deployId, by }, "pre_deploy");
        opts.reporter.emit({ type: "step", machine: c.machine, step: `${app.name}: pre_deploy`, status: h.ok ? "ok" : "failed", ms: Date.now() - started });
        if (!h.ok) {
          const out = h.output.split("\n").slice(-50).map((l) => `  │ ${l}`).join("\n");
          throw new UserError(`${c.machine}: ${app.name}: ${h.reason}; nothing was deployed${out ? `\n${out}` : ""}`, { hint: "fix the command or what it needs (it ran in a one-off instance of the new release), then deploy again" });
        }
      }
      const result = await rollout({
        project: project.name, app: app.name, target: release, previous, clients: lock.clients, maxParallel: app.deploy.maxParallel,
        action: "deploy", deployId, by, keepWarm: app.deploy.keepWarm, reporter: opts.reporter, interrupted: opts.interrupted ?? (() => false), checkLock: lock.check,
      });
      outcomes.push({ app: app.name, release, image: image.ref, result });
      if (!result.ok) break;
    }
    return { outcomes, skipped: lock.unreachable.map((u) => u.machine) };
  });
}
