// Ctrl-C during a rollout: the first one stops new machine batches and lets
// the rollout return switched machines to their previous release; a second one exits now.
import type { Ctx } from "./context.ts";

export function onInterrupt(ctx: Ctx, active = true): { signal: AbortSignal; dispose: () => void } {
  const abort = new AbortController();
  // A dry run changes nothing: Ctrl-C ends it at once, as it ends `skiff plan`.
  if (!active) return { signal: abort.signal, dispose: () => {} };
  let count = 0;
  const handler = () => {
    count++;
    abort.abort();
    if (count === 1) ctx.reporter.emit({ type: "note", message: "interrupted: finishing the machines in progress, then returning switched machines to their previous release (Ctrl-C again to quit now; the lock then stays until `skiff lock release`)" });
    else process.exit(130);
  };
  process.on("SIGINT", handler);
  process.on("SIGTERM", handler);
  return { signal: abort.signal, dispose: () => (process.off("SIGINT", handler), process.off("SIGTERM", handler)) };
}
