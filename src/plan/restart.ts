// Pure: what `skiff restart` renews. Per app, the release active on the
// machines that run its instances (one release: a restart is not a deploy), the
// machines to restart (all of them, or the one asked for) and their waves, as a
// deploy of the app would roll them.
import type { Project } from "../config/model.ts";
import { localCount } from "../contracts/model.ts";
import { UserError } from "../errors.ts";
import { rolloutWaves } from "./model.ts";
import { specOn, type Observed } from "./observed.ts";
import { selectApps } from "./release-spec.ts";

export interface RestartAppPlan {
  app: string;
  /** The active release, started afresh. */
  release: number;
  /** Machines whose instances are replaced, with how many. */
  machines: { machine: string; instances: number }[];
  /** The rollout waves (machine names), the app's canary and max_parallel applied. */
  batches: string[][];
}

export interface RestartPlan {
  action: "restart";
  project: string;
  apps: RestartAppPlan[];
  /** Machines left out because they did not answer. */
  skipped: string[];
}

export function planRestart(project: Project, o: Observed, opts: { apps: string[]; machine?: string }): RestartPlan {
  if (opts.machine !== undefined && !Object.hasOwn(project.machines, opts.machine)) {
    throw new UserError(`no machine named "${opts.machine}"`, { exitCode: 2, hint: `machines: ${Object.keys(project.machines).join(", ")}` });
  }
  const apps = selectApps(project, opts.apps, { appsOnly: true }).map((a): RestartAppPlan => {
    const running = o.machines.flatMap((m) => {
      const active = m.apps[a.name]?.active ?? null;
      const spec = specOn(m, a.name, active);
      const n = spec ? localCount(spec, m.machine) : 0;
      return active !== null && n > 0 ? [{ machine: m.machine, release: active, instances: n }] : [];
    });
    if (!running.length) throw new UserError(`${a.name} runs no instances${o.unreachable.length ? ` on the machines that answered` : ""}: nothing to restart`, { hint: "`skiff status` shows what runs where; `skiff deploy` starts it" });
    const releases = [...new Set(running.map((r) => r.release))];
    if (releases.length > 1) {
      const where = running.map((r) => `${r.machine}: ${r.release}`).join(", ");
      throw new UserError(`${a.name}: its machines run different releases (${where}); a restart renews one release`, { hint: "deploy or roll back first, so every machine runs the same release" });
    }
    let chosen = running;
    if (opts.machine !== undefined) {
      chosen = running.filter((r) => r.machine === opts.machine);
      if (!chosen.length) throw new UserError(`${a.name} runs no instances on ${opts.machine}`, { exitCode: 2, hint: `it runs on: ${running.map((r) => r.machine).join(", ")}` });
    }
    const names = chosen.map((r) => r.machine);
    return { app: a.name, release: releases[0]!, machines: chosen.map(({ machine, instances }) => ({ machine, instances })), batches: rolloutWaves(names, a.deploy.maxParallel, a.deploy.canary) };
  });
  return { action: "restart", project: project.name, apps, skipped: o.unreachable };
}
