// How a rollout ends, for people: what serves where, or why it failed and what was undone.
import type { RolloutResult } from "../exec/rollout.ts";

export function renderRollout(app: string, release: number, r: RolloutResult, out: (l: string) => void, err: (l: string) => void): void {
  if (r.ok) {
    const switched = r.switched.map((s) => s.machine);
    out(`${app}: release ${release} serving on ${[...switched, ...r.unchanged].join(", ")}${r.unchanged.length && !switched.length ? " (unchanged)" : ""}`);
    return;
  }
  const f = r.failure!;
  err(`${app}: release ${release} failed on ${f.machine}: ${f.reason}`);
  if (f.logs?.trim()) {
    const lines = f.logs.trimEnd().split("\n").slice(-50);
    err(`last ${lines.length} log line(s) of ${f.failedInstance}:`);
    for (const l of lines) err(`  │ ${l}`);
  }
  for (const v of r.reverted) {
    if (v.ok) err(v.to === null ? `${v.machine}: back to running nothing (it was the app's first release there)` : `${v.machine}: back on release ${v.to}`);
    else err(`${v.machine}: could not go back${v.to !== null ? ` to release ${v.to}` : ""}: ${v.reason}`);
  }
  err(`the previous release kept serving on ${f.machine}; the failed release took no traffic there`);
}
