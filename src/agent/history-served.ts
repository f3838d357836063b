// What a rollback needs of this machine's history, without the history: per
// app, the releases that once served (an ok deploy, rollback or scale), when
// each last served and which were rolled back from (contracts/served.ts). The
// file only grows (store.ts appends, a torn last line first gets its newline),
// so it is read from where the last look ended: a rollback after a year of
// deploys reads and sends a few numbers, not every record since.
import type { HistoryEntry } from "../contracts/model.ts";
import { ServedBook, type ServedFacts } from "../contracts/served.ts";
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
  private readonly books = new Map<string, ServedBook>();
  private damaged: DamagedLine[] = [];

  constructor(
    file: string,
    private readonly isEntry: (x: unknown) => x is HistoryEntry,
  ) {
    this.tail = new LineTail(file);
  }

  /** The app's releases that served (the newest MAX_SERVED, and the NEAR_ACTIVE below `active`), ascending, with
   *  when the last few served and which were rolled back from, and the lines that are not records (as `history`
   *  reports them). */
  query(project: string, app: string, active: number | null = null): ServedFacts & { damaged: DamagedLine[] } {
    this.catchUp();
    let book = this.books.get(key(project, app)) ?? new ServedBook();
    const damaged = [...this.damaged];
    // A last line without its newline counts as history reads it now; it is not kept (more may follow).
    const rest = this.tail.rest;
    if (rest) {
      const e = this.parse(rest);
      if (!e) damaged.push({ line: this.lines + 1, text: rest.slice(0, 120) });
      else if (e.project === project && e.app === app) (book = book.clone()).take(e);
    }
    const sorted = book.served();
    // The newest, those just below the release active here (a rollback --to far back, then a plain one), and those
    // that served last, however old (a --to far back, then a deploy: the way back is that old release).
    const near = active === null ? [] : sorted.filter((r) => r < active).slice(-NEAR_ACTIVE);
    return { ...book.facts([...new Set([...near, ...sorted.slice(-MAX_SERVED), ...book.recent()])].sort((a, b) => a - b)), damaged };
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
        this.books.clear();
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
    const k = key(e.project, e.app);
    const book = this.books.get(k) ?? new ServedBook();
    book.take(e);
    this.books.set(k, book);
  }
}

const key = (project: string, app: string) => `${project}/${app}`;
