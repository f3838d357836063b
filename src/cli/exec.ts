// skiff exec APP [--machine m] [--instance i] [-i] [-t] -- CMD…: a command in a running instance; its exit code is ours.
import { skiffFor, type Ctx } from "./context.ts";

export interface ReachFlags {
  machine?: string;
  instance?: string;
  interactive?: boolean;
  tty?: boolean;
}

export async function execCommand(ctx: Ctx, app: string, command: string[], o: ReachFlags): Promise<number> {
  const r = await skiffFor(ctx).exec(app, command, { machine: o.machine, instance: o.instance, interactive: o.interactive, tty: o.tty });
  return r.code;
}
