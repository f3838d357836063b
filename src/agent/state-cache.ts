// The supervisor's copy of every app's state and release specs. Its tick runs
// four times a second and used to read and parse each app's state.json and
// active release file every time: most of the idle agent's CPU. Only the agent
// writes those files, and only through the Store (see store.ts), whose
// `generation` every write and removal bumps: while it stands still, the copies
// here are the files' content, and a tick with nothing due touches no file.
// The objects handed out are shared between ticks: read them, never change
// them (a change goes through store.state() and store.saveState()).
import type { AppState, ReleaseSpec } from "../contracts/model.ts";
import type { Store } from "./store.ts";

export interface CachedApp {
  project: string;
  app: string;
  state: Readonly<AppState>;
}

export class StateCache {
  private gen = -1;
  private list: CachedApp[] = [];
  private readonly specs = new Map<string, ReleaseSpec | undefined>();
  /** Times the files were read again (tests check that an idle tick reads none). */
  reads = 0;

  constructor(private readonly store: Store) {}

  private fresh(): void {
    if (this.gen === this.store.generation) return;
    this.gen = this.store.generation;
    this.reads++;
    this.specs.clear();
    this.list = this.store.apps().map(({ project, app }) => ({ project, app, state: this.store.state(project, app) }));
  }

  /** Every app with its state, as last written. */
  apps(): readonly CachedApp[] {
    this.fresh();
    return this.list;
  }

  /** A release's spec (read once while nothing is written; releases are immutable, a withheld copy excepted). */
  release(project: string, app: string, n: number): ReleaseSpec | undefined {
    this.fresh();
    const key = `${project}/${app}/${n}`;
    if (!this.specs.has(key)) this.specs.set(key, this.store.release(project, app, n));
    return this.specs.get(key);
  }
}
