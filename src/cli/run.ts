// skiff run APP [--machine m] [-i] [-t] -- CMD…: a one-off instance of the active release, removed after; its
// exit code is ours. Ctrl-C (without a terminal) removes the one-off before we exit.
import { skiffFor, type Ctx } from "./context.ts";
import type { ReachFlags } from "./exec.ts";

export async function runCommand(ctx: Ctx, app: string, command: string[], o: Omit<ReachFlags, "instance">): Promise<number> {
  const abort = new AbortController();
  const stop = () => abort.abort();
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  process.on("SIGHUP", stop);
  try {
    const r = await skiffFor(ctx).runOneOff(app, command, { machine: o.machine, interactive: o.interactive, tty: o.tty, signal: abort.signal });
    // Interrupted: the one-off was removed (its own exit code says only how it was ended).
    return abort.signal.aborted ? 130 : r.code;
  } finally {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
    process.off("SIGHUP", stop);
  }
}
