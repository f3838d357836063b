// skiff plan [-e ENV]: what a deploy would change, per app and machine — releases,
// instances to start and stop, config keys old → new, secrets masked. Reads only.
// Exit 0: nothing to do; 2: changes; 1: a machine could not be asked (or the placement does not fit).
import { localCount, type ReleaseSpec } from "../contracts/model.ts";
import { plannedImages } from "../build/image.ts";
import { agentClients } from "../transport/agent-client.ts";
import { mapLimit } from "../lib/parallel.ts";
import { placeApp } from "../exec/placement.ts";
import { releaseSpec, selectApps, specFor } from "../exec/deploy.ts";
import { whoAmI } from "../exec/lock.ts";
import { diffSpecs, formatChange, type Change } from "../plan/diff.ts";
import { appSecrets, readSecrets } from "../secrets/store.ts";
import type { Ctx } from "./context.ts";

interface MachinePlan {
  machine: string;
  active: number | null;
  changes: Change[];
  start: number;
  stop: number;
}

export async function planCommand(ctx: Ctx, names: string[]): Promise<number> {
  const p = ctx.project;
  const apps = selectApps(p, names);
  const secrets = apps.some((a) => Object.keys(a.secrets).length) ? await readSecrets(p) : {};
  const images = await plannedImages(p, apps);
  const by = whoAmI();
  // One channel per machine: each machine's active releases, then placement as a deploy would compute it (every
  // machine's capacity is needed, so an unreachable one fails the plan, as it would the deploy; a refusal is an error).
  const clients = agentClients(p);
  type Active = Record<string, { active: number | null; spec: ReleaseSpec | null }>;
  let answers: Active[];
  const placements = new Map<string, Record<string, number>>();
  try {
    answers = await mapLimit(clients, 20, async (c) => {
      const out: Active = {};
      for (const a of apps) {
        const { active } = await c.call<{ active: number | null }>("release.list", { project: p.name, app: a.name });
        out[a.name] = { active, spec: active === null ? null : await c.call<ReleaseSpec | null>("release.get", { project: p.name, app: a.name, release: active }) };
      }
      return out;
    });
    for (const a of apps) placements.set(a.name, await placeApp(p, a, clients, { current: answers.map((x) => x[a.name]!.spec).find((x) => x) ?? null }));
  } finally {
    for (const c of clients) c.close();
  }
  const wanted = new Map(apps.map((a) => [a.name, releaseSpec(p, a, images.find((i) => i.app === a.name)!, 0, by, appSecrets(p, a, secrets), placements.get(a.name))]));

  const result = apps.map((a) => {
    const want = wanted.get(a.name)!;
    const machines: MachinePlan[] = answers.map((ans, i) => {
      const machine = clients[i]!.machine;
      const { active, spec } = ans[a.name]!;
      const changes = diffSpecs(spec ?? undefined, { ...specFor(want, machine), imageId: want.imageId ?? "" }); // what this machine would store
      return { machine, active, changes, start: changes.length ? localCount(want, machine) : 0, stop: changes.length && spec ? localCount(spec, machine) : 0 };
    });
    return { app: a.name, note: images.find((i) => i.app === a.name)?.note, machines };
  });
  const changed = result.reduce((n, r) => n + r.machines.filter((m) => m.changes.length).length, 0);

  if (ctx.json) ctx.out(JSON.stringify({ apps: result }));
  else {
    for (const r of result) {
      ctx.out(`${r.app}${r.note ? ` (${r.note})` : ""}`);
      for (const m of r.machines) {
        if (!m.changes.length) {
          ctx.out(`  ${m.machine}: release ${m.active}, no changes`);
          continue;
        }
        ctx.out(`  ${m.machine}: ${m.active === null ? "nothing yet" : `release ${m.active}`} → new release: start ${m.start} instance${m.start === 1 ? "" : "s"}${m.stop ? `, stop ${m.stop}` : ""}${m.start === 0 ? " (served by the other machines)" : ""}`);
        for (const c of m.changes) ctx.out(`    ${formatChange(c)}`);
      }
    }
    ctx.out(changed ? `plan: ${changed} change${changed === 1 ? "" : "s"} (app × machine); \`skiff deploy\` applies them` : "plan: nothing to do");
  }
  return changed ? 2 : 0;
}
