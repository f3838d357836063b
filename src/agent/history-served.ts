// What a rollback needs of this machine's history, without the history: per
// app, the releases that once served (an ok deploy, rollback or scale). The
// file only grows (store.ts appends, a torn last line first gets its newline),
// so it is read from where the last look ended: a rollback after a year of
// deploys reads and sends a few numbers, not every record since.
import { servedBy, type HistoryEntry } from "../contracts/model.ts";
import { LineTail } from "./line-tail.ts";


export interface DamagedLine {
  line: number;
  text: string;
}

/** At most this many damaged lines are kept (each is reported as history reports it). */
const MAX_DAMAGED = 1000;
/** The newest this many releases that served are answered: a rollback goes to one a machine keeps (keep_releases,
 *  a handful), never a thousand releases back, and the answer stays a few KB after years of deploys. */
export const MAX_SERVED = 1000;
/** …and this many just below the release active on the machine, wherever that is. */
export const NEAR_ACTIVE = 10;

export class ServedIndex {
  private readonly tail: LineTail;
  private lines = 0;
  private readonly served = new Map<string, Set<number>>();
  private damaged: DamagedLine[] = [];

  constructor(
    file: string,
    private readonly isEntry: (x: unknown) => x is HistoryEntry,
  ) {
    this.tail = new LineTail(file);
  }

  /** The app's releases that served (the newest MAX_SERVED, and the NEAR_ACTIVE below `active`), ascending, and the
   *  lines that are not records (as `history` reports them). */
  query(project: string, app: string, active: number | null = null): { releases: number[]; damaged: DamagedLine[] } {
    this.catchUp();
    const releases = new Set(this.served.get(key(project, app)));
    const damaged = [...this.damaged];
    // A last line without its newline counts as history reads it now; it is not kept (more may follow).
    const rest = this.tail.rest;
    if (rest) {
      const e = this.parse(rest);
      if (!e) damaged.push({ line: this.lines + 1, text: rest.slice(0, 120) });
      else if (e.project === project && e.app === app && servedBy(e)) releases.add(e.release);
    }
    const sorted = [...releases].sort((a, b) => a - b);
    // The newest, and those just below the release active here (a rollback --to far back, then a plain one).
    const near = active === null ? [] : sorted.filter((r) => r < active).slice(-NEAR_ACTIVE);
    return { releases: [...new Set([...near, ...sorted.slice(-MAX_SERVED)])].sort((a, b) => a - b), damaged };
  }

  private parse(line: string): HistoryEntry | undefined {
    try {
      const e: unknown = JSON.parse(line);
      return this.isEntry(e) ? e : undefined;
    } catch {
      return undefined;
    }
  }

  private catchUp(): void {
    this.tail.catchUp(
      (l) => this.take(l),
      // Replaced (a restored machine): counted again from the start.
      () => {
        Object.assign(this, { lines: 0, damaged: [] });
        this.served.clear();
      },
    );
  }

  private take(line: string): void {
    this.lines++;
    if (!line) return;
    const e = this.parse(line);
    if (!e) {
      if (this.damaged.length < MAX_DAMAGED) this.damaged.push({ line: this.lines, text: line.slice(0, 120) });
      return;
    }
    if (!servedBy(e)) return;
    const k = key(e.project, e.app);
    const set = this.served.get(k) ?? new Set<number>();
    set.add(e.release);
    this.served.set(k, set);
  }
}

const key = (project: string, app: string) => `${project}/${app}`;
