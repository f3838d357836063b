// skiff build [app…]: images tagged by git commit, skipped when the tag exists (Skiff.build).
import { skiffFor, type Ctx } from "./context.ts";

export async function buildCommand(ctx: Ctx, apps: string[]): Promise<number> {
  const images = await skiffFor(ctx).build({ apps });
  for (const i of images) ctx.out(ctx.json ? JSON.stringify(i) : `${i.app}: ${i.ref}${i.built ? " (built)" : i.id ? " (exists)" : " (not on this machine)"}`);
  return 0;
}
