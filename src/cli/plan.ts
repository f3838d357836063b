// skiff plan [-e ENV]: what a deploy would change, per app and machine — releases,
// instances to start and stop, config keys old → new, secrets masked. Reads only.
// Exit 0: nothing to do; 2: changes; 1: a machine could not be asked.
import { localCount, type ReleaseSpec } from "../agent/model.ts";
import { plannedImages } from "../build/image.ts";
import { agentClients, askAll } from "../exec/agent-client.ts";
import { activeSpec, placeApp } from "../exec/placement.ts";
import { releaseSpec, selectApps } from "../exec/deploy.ts";
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
  // Placement as a deploy would compute it (a refusal is an error here too, with what is short where).
  const clients = agentClients(p);
  const placements = new Map<string, Record<string, number>>();
  try {
    for (const a of apps) placements.set(a.name, await placeApp(p, a, clients, { current: await activeSpec(p.name, a.name, clients) }));
  } finally {
    for (const c of clients) c.close();
  }
  const wanted = new Map(apps.map((a) => [a.name, releaseSpec(p, a, images.find((i) => i.app === a.name)!, 0, by, appSecrets(p, a, secrets), placements.get(a.name))]));
  const answers = await askAll(p, async (c) => {
    const out: Record<string, { active: number | null; spec: ReleaseSpec | null }> = {};
    for (const a of apps) {
      const { active } = await c.call<{ active: number | null }>("release.list", { project: p.name, app: a.name });
      out[a.name] = { active, spec: active === null ? null : await c.call<ReleaseSpec | null>("release.get", { project: p.name, app: a.name, release: active }) };
    }
    return out;
  });

  let unreachable = 0;
  let changed = 0;
  const result: { app: string; note?: string; machines: MachinePlan[] }[] = [];
  for (const a of apps) {
    const want = wanted.get(a.name)!;
    const machines: MachinePlan[] = [];
    for (const ans of answers) {
      if (!ans.ok) continue;
      const { active, spec } = ans.value[a.name]!;
      const changes = diffSpecs(spec ?? undefined, { ...want, imageId: want.imageId ?? "" });
      const here = localCount(want, ans.machine);
      machines.push({ machine: ans.machine, active, changes, start: changes.length ? here : 0, stop: changes.length && spec ? localCount(spec, ans.machine) : 0 });
    }
    result.push({ app: a.name, note: images.find((i) => i.app === a.name)?.note, machines });
  }
  for (const ans of answers) if (!ans.ok) unreachable++;

  if (ctx.json) ctx.out(JSON.stringify({ apps: result, unreachable: answers.filter((x) => !x.ok).map((x) => x.machine) }));
  for (const r of result) {
    if (!ctx.json) ctx.out(`${r.app}${r.note ? ` (${r.note})` : ""}`);
    for (const m of r.machines) {
      if (m.changes.length) changed++;
      if (ctx.json) continue;
      if (!m.changes.length) {
        ctx.out(`  ${m.machine}: release ${m.active}, no changes`);
        continue;
      }
      ctx.out(`  ${m.machine}: ${m.active === null ? "nothing yet" : `release ${m.active}`} → new release: start ${m.start} instance${m.start === 1 ? "" : "s"}${m.stop ? `, stop ${m.stop}` : ""}${m.start === 0 ? " (served by the other machines)" : ""}`);
      for (const c of m.changes) ctx.out(`    ${formatChange(c)}`);
    }
  }
  for (const ans of answers) if (!ans.ok) process.stderr.write(`${ans.machine}: could not be asked: ${(ans.error as Error).message.split("\n")[0]}\n`);
  if (!ctx.json) ctx.out(changed ? `plan: ${changed} change${changed === 1 ? "" : "s"} (app × machine); \`skiff deploy\` applies them` : "plan: nothing to do");
  if (unreachable) return 1;
  return changed ? 2 : 0;
}
