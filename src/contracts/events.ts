// Progress is a stream of events; renderers decide how it looks.

export type StepStatus = "start" | "ok" | "failed" | "undone";

export type Event =
  | { type: "step"; machine: string; step: string; status: StepStatus; ms?: number; detail?: string }
  | { type: "note"; machine?: string; message: string };

export interface Reporter {
  emit(e: Event): void;
}

const mark: Record<StepStatus, string> = { start: "…", ok: "✓", failed: "✗", undone: "↺" };

/** Plain lines for terminals and CI logs; `start` is shown only on a TTY, where steps take a while. */
export function plainReporter(out: NodeJS.WritableStream = process.stderr, showStarts = Boolean((out as NodeJS.WriteStream).isTTY)): Reporter {
  return {
    emit(e) {
      if (e.type === "note") return void out.write(`${e.machine ? `${e.machine}: ` : ""}${e.message}\n`);
      if (e.status === "start" && !showStarts) return;
      const time = e.ms !== undefined ? ` (${(e.ms / 1000).toFixed(1)}s)` : "";
      out.write(`${e.machine}: ${mark[e.status]} ${e.step}${time}${e.detail ? ` — ${e.detail}` : ""}\n`);
    },
  };
}

export function jsonReporter(out: NodeJS.WritableStream = process.stdout): Reporter {
  return { emit: (e) => void out.write(JSON.stringify({ ...e, at: new Date().toISOString() }) + "\n") };
}
