// Progress is a stream of events; renderers decide how it looks.

export type StepStatus = "start" | "ok" | "failed" | "undone";

export type Event =
  | { type: "step"; machine: string; step: string; status: StepStatus; ms?: number; detail?: string }
  | { type: "note"; machine?: string; message: string }
  /** A rollout wave of an app: its machines switch together; `index` counts from 1; the canary wave goes first alone. */
  | { type: "wave"; app: string; release: number; index: number; total: number; machines: string[]; canary: boolean; status: StepStatus; ms?: number };

export interface Reporter {
  emit(e: Event): void;
}

const mark: Record<StepStatus, string> = { start: "…", ok: "✓", failed: "✗", undone: "↺" };

/** Plain lines for terminals and CI logs; `start` is shown only on a TTY, where steps take a while. */
export function plainReporter(out: NodeJS.WritableStream = process.stderr, showStarts = Boolean((out as NodeJS.WriteStream).isTTY)): Reporter {
  return {
    emit(e) {
      if (e.type === "note") return void out.write(`${e.machine ? `${e.machine}: ` : ""}${e.message}\n`);
      if (e.type === "wave") {
        // One wave (a rollback, one machine): the step lines say it all.
        if (e.total === 1) return;
        const time = e.ms !== undefined ? ` (${(e.ms / 1000).toFixed(1)}s)` : "";
        const what = `${e.app}: wave ${e.index}/${e.total}${e.canary ? " (canary)" : ""}`;
        if (e.status === "start") return void out.write(`${what}: release ${e.release} on ${e.machines.join(", ")}\n`);
        return void out.write(`${what} ${mark[e.status]} ${e.status === "ok" ? "done" : e.status}${time}\n`);
      }
      if (e.status === "start" && !showStarts) return;
      const time = e.ms !== undefined ? ` (${(e.ms / 1000).toFixed(1)}s)` : "";
      out.write(`${e.machine}: ${mark[e.status]} ${e.step}${time}${e.detail ? ` — ${e.detail}` : ""}\n`);
    },
  };
}

export function jsonReporter(out: NodeJS.WritableStream = process.stdout): Reporter {
  return { emit: (e) => void out.write(JSON.stringify({ ...e, at: new Date().toISOString() }) + "\n") };
}
