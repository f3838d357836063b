// skiff diff -e A -e B: how two environments differ (Skiff.diff) — machines, and
// per app its config (env, instances, resources, routes, …); secrets by name,
// values hidden.
import { Skiff } from "../api/skiff.ts";
import { UserError } from "../errors.ts";
import type { Ctx } from "./context.ts";

export async function envDiffCommand(configFile: string | undefined, envs: string[], ctx: Pick<Ctx, "out" | "json">): Promise<number> {
  if (envs.length !== 2) throw new UserError("skiff diff compares two environments", { hint: "skiff diff -e staging -e prod" });
  const [a, b] = envs as [string, string];
  const skiff = await Skiff.open({ config: configFile, environment: a === "default" ? undefined : a });
  const { differences } = await skiff.diff({ a, b });
  const lines = differences.map((d) => d.text);
  if (ctx.json) ctx.out(JSON.stringify({ from: a, to: b, differences: lines }));
  else ctx.out(lines.length ? [`${a} → ${b}:`, ...lines.map((l) => `  ${l}`)].join("\n") : `${a} and ${b} are the same`);
  return lines.length ? 2 : 0;
}
