// Long-lived sessions held open across deploys (WebSocket, streaming HTTP): a
// few workers each keep one session open, and open the next when it ends. Each
// session's end is classified: closed cleanly by the server (a close frame, the
// end of the chunked response), reset (the connection ended without that),
// refused (never opened), or stopped by the bench itself at the end.

export type SessionEnd = "clean" | "reset" | "refused" | "stopped";

export interface SessionOutcome {
  /** The release that answered (from the app's greeting), if the session opened. */
  version?: string;
  openedAt: number;
  closedAt: number;
  end: SessionEnd;
  why?: string;
}

/** One session as it goes: the release once its greeting names it, and its end, settled once. */
export function sessionRecord(resolve: (o: SessionOutcome) => void): { version?: string; finish(end: SessionEnd, why?: string): void } {
  const openedAt = Date.now();
  let settled = false;
  const rec = {
    version: undefined as string | undefined,
    finish(end: SessionEnd, why?: string) {
      if (settled) return;
      settled = true;
      resolve({ version: rec.version, openedAt, closedAt: Date.now(), end, why });
    },
  };
  return rec;
}

export type OpenSession = (baseUrl: string, signal: AbortSignal) => Promise<SessionOutcome>;

/** `concurrency` sessions at all times, spread over the base URLs, until stopped. */
export function holdSessions(baseUrls: string[], concurrency: number, open: OpenSession): { stop: () => Promise<SessionOutcome[]> } {
  const ac = new AbortController();
  const out: SessionOutcome[] = [];
  const workers = Array.from({ length: concurrency }, async (_, i) => {
    while (!ac.signal.aborted) {
      const o = await open(baseUrls[i % baseUrls.length]!, ac.signal);
      out.push(o);
      // Not a hot loop against a refusing proxy.
      if (o.end === "refused" || o.end === "reset") await new Promise((r) => setTimeout(r, 100));
    }
  });
  return {
    stop: async () => {
      ac.abort();
      await Promise.all(workers);
      return out;
    },
  };
}

/** What was active when: a step (deploy, rollback) starts → nothing certain; a step done → its release. */
export class Timeline {
  private marks: { at: number; version?: string }[] = [];
  stepStarted(): void {
    this.marks.push({ at: Date.now() });
  }
  stepDone(version: string): void {
    this.marks.push({ at: Date.now(), version });
  }
  /** The release every new session should land on at `t`; undefined while a step runs. */
  activeAt(t: number): string | undefined {
    let v: string | undefined;
    for (const m of this.marks) if (m.at <= t) v = m.version;
    return v;
  }
  /** When the session's release stopped being the active one: the start of the first step after it opened. */
  replacedAt(o: SessionOutcome): number | undefined {
    return this.marks.find((m) => m.at > o.openedAt && m.version === undefined)?.at;
  }
}

export interface SessionSummary {
  opened: number;
  clean: number;
  reset: number;
  refused: number;
  openAtEnd: number;
  /** Opened after a step had finished, on another release than the one it made active. */
  wrongRelease: number;
  /** Closed by the server while its own release was still the active one (no step running). */
  closedWhileActive: number;
  /** Seconds from the start of the step that replaced its release to the clean close: median and max. */
  closeAfterS: [number, number] | undefined;
  examples: string[];
}

export function summarize(outcomes: SessionOutcome[], t: Timeline): SessionSummary {
  const opened = outcomes.filter((o) => o.version !== undefined);
  const count = (e: SessionEnd) => outcomes.filter((o) => o.end === e).length;
  const wrong = opened.filter((o) => {
    const want = t.activeAt(o.openedAt);
    return want !== undefined && want !== o.version;
  });
  const early = opened.filter((o) => o.end === "clean" && t.activeAt(o.closedAt) === o.version);
  const delays = opened.flatMap((o) => {
    const r = o.end === "clean" ? t.replacedAt(o) : undefined;
    return r === undefined ? [] : [(o.closedAt - r) / 1000];
  });
  delays.sort((a, b) => a - b);
  const examples = outcomes
    .filter((o) => o.end === "reset" || o.end === "refused")
    .slice(0, 3)
    .map((o) => `${o.end} (${o.version ?? "not opened"}): ${o.why ?? "?"}`);
  for (const o of wrong.slice(0, 2)) examples.push(`landed on ${o.version}, expected ${t.activeAt(o.openedAt)}`);
  return {
    opened: opened.length,
    clean: count("clean"),
    reset: count("reset"),
    refused: count("refused"),
    openAtEnd: count("stopped"),
    wrongRelease: wrong.length,
    closedWhileActive: early.length,
    closeAfterS: delays.length ? [delays[Math.floor(delays.length / 2)]!, delays[delays.length - 1]!] : undefined,
    examples,
  };
}

export function formatSummary(s: SessionSummary): string {
  const after = s.closeAfterS ? `, closed ${s.closeAfterS[0].toFixed(1)} s (max ${s.closeAfterS[1].toFixed(1)} s) after their release was replaced` : "";
  const line = `${String(s.opened).padStart(5)} opened: ${s.clean} closed cleanly, ${s.reset} reset, ${s.refused} refused, ${s.openAtEnd} open at the end; ${s.wrongRelease} on a stale release, ${s.closedWhileActive} closed while their release was active${after}`;
  return s.examples.length ? `${line}\n      e.g. ${s.examples.join("; ")}` : line;
}
