// Progress as a typed stream. A Skiff has listeners (`skiff.on("event", fn)`);
// each call may add its own (`onEvent`); exec code sees one Reporter that fans
// out to them all. A listener that throws is a bug in the caller's code: it is
// kept away from the deploy (which must finish or undo), and reported once.
import type { Event, Reporter } from "../contracts/events.ts";

export type { Event as SkiffEvent, StepStatus } from "../contracts/events.ts";

export type EventListener = (event: Event) => void;

export class EventHub {
  private readonly listeners = new Set<EventListener>();
  private readonly failed = new WeakSet<EventListener>();

  /** Adds a listener; returns the function that removes it. */
  add(fn: EventListener): () => void {
    this.listeners.add(fn);
    return () => void this.listeners.delete(fn);
  }

  /** The Reporter exec code emits to: every listener, then `extra` (a call's own). */
  reporter(extra?: EventListener): Reporter {
    return { emit: (e) => [...this.listeners, ...(extra ? [extra] : [])].forEach((fn) => this.deliver(fn, e)) };
  }

  private deliver(fn: EventListener, e: Event): void {
    try {
      fn(e);
    } catch (err) {
      if (this.failed.has(fn)) return;
      this.failed.add(fn);
      process.emitWarning(`a skiff event listener threw (later events still reach it): ${(err as Error)?.message ?? err}`);
    }
  }
}

