// What the renewal of each `tls: auto` certificate last did on this machine:
// the last order or pull that brought a certificate (and who ordered it), the
// last failed order and since when orders fail. Kept in one file beside the
// certificates (<tls dir>/acme-record.json), so `skiff status` still says
// "renewal failing since …" after the agent restarts. Errors are cut to one
// short line with anything PEM-shaped taken out: no key ever lands here.
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { writeAtomic } from "./atomic-write.ts";

export interface AcmeAttempt {
  lastAttemptAt: number;
  lastResult: "ordered" | "pulled" | "failed";
  lastError?: string;
  /** The first failure since the last success. */
  failingSince?: number;
  /** The last certificate an order or a pull brought: its serial, and this machine's name (it ordered it) or the
   *  peer it came from. */
  got?: { serial: string; from: string; at: number };
}

const MAX_ERROR = 300;

/** An error as status shows it: one line, at most 300 characters, PEM blocks and base64 runs of key size removed. */
export function shortError(message: string): string {
  const one = message
    .replace(/-----BEGIN [A-Z ]+-----[\s\S]*?(-----END [A-Z ]+-----|$)/g, "[PEM removed]")
    .replace(/[A-Za-z0-9+/_=-]{120,}/g, "[…]")
    .replace(/\s+/g, " ")
    .trim();
  return one.length > MAX_ERROR ? `${one.slice(0, MAX_ERROR - 1)}…` : one;
}

export class AcmeRecord {
  private readonly file: string;
  private cache: Record<string, AcmeAttempt> | undefined;

  constructor(
    dir: string,
    private readonly log: (s: string) => void = () => {},
  ) {
    this.file = join(dir, "acme-record.json");
  }

  all(): Record<string, AcmeAttempt> {
    if (this.cache) return this.cache;
    try {
      this.cache = existsSync(this.file) ? (JSON.parse(readFileSync(this.file, "utf8")) as Record<string, AcmeAttempt>) : {};
    } catch (e) {
      // A torn or foreign file loses only the history of attempts, never a certificate.
      this.log(`tls auto: ${this.file} unreadable, starting a new record: ${(e as Error).message}`);
      this.cache = {};
    }
    return this.cache;
  }

  get(id: string): AcmeAttempt | undefined {
    return this.all()[id];
  }

  succeeded(id: string, how: "ordered" | "pulled", got: { serial: string; from: string }, at: number): void {
    this.put(id, { lastAttemptAt: at, lastResult: how, got: { ...got, at } });
  }

  failed(id: string, error: string, at: number): void {
    const was = this.get(id);
    const failingSince = was?.lastResult === "failed" ? (was.failingSince ?? was.lastAttemptAt) : at;
    this.put(id, { lastAttemptAt: at, lastResult: "failed", lastError: shortError(error), failingSince, ...(was?.got ? { got: was.got } : {}) });
  }

  drop(ids: string[]): void {
    if (!ids.some((id) => this.get(id))) return;
    const next = { ...this.all() };
    for (const id of ids) delete next[id];
    this.save(next);
  }

  private put(id: string, a: AcmeAttempt): void {
    this.save({ ...this.all(), [id]: a });
  }

  private save(next: Record<string, AcmeAttempt>): void {
    this.cache = next;
    try {
      mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
      writeAtomic(this.file, JSON.stringify(next), { mode: 0o600 });
    } catch (e) {
      // Status loses the record after a restart; the renewal itself goes on.
      this.log(`tls auto: cannot keep the attempt record: ${(e as Error).message}`);
    }
  }
}
