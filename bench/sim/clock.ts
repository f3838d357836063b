// Time for simulated machines: a sleep (a health interval, a drain, a proxy wait) passes at once and is added
// to the clock instead, so a simulated fleet's boot and health times cost no wall time and are counted apart.
import type { Clock } from "../../src/agent/effects.ts";

export class SkipClock implements Clock {
  /** Virtual milliseconds slept so far on this clock. */
  skipped = 0;

  now(): number {
    return Date.now() + this.skipped;
  }

  sleep(ms: number): Promise<void> {
    this.skipped += Math.max(0, ms);
    // A turn of the event loop, as a real sleep would give: other machines' work goes on meanwhile.
    return new Promise((r) => setImmediate(r));
  }
}
