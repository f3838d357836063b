// tls: auto on the agent (memo §4): the hosts this machine serves with an ACME
// certificate, each kept as an entry (0600: it holds the project's account
// key) in <tls dir>/auto, and the renewal tick that keeps their certificates
// fresh with no command run: a due certificate is first pulled from the app's
// other machines over the mesh (acme-pull.ts); if none has a newer one, the
// machine of rank r orders once it has been due for r × L/12 (acme-schedule.ts).
// The CLI's first deploy orders on rank 0 (`tls.issue`) and has the others pull.
import { X509Certificate } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { AutoFacts } from "../contracts/tls-facts.ts";
import { AcmeRecord } from "./acme-record.ts";
import { writeAtomic } from "./atomic-write.ts";
import { issueCert } from "./acme-issue.ts";
import { pullNewest } from "./acme-pull.ts";
import { decide, dueAt, rankOf, type CertTimes } from "./acme-schedule.ts";
import type { MeshCerts } from "./mesh-certs.ts";
import type { ProxyController } from "./proxy.ts";
import type { TlsCertInfo } from "./proxy-tls.ts";

export interface AutoEntry {
  project: string;
  app: string;
  id: string;
  hosts: string[];
  directory: string;
  email?: string;
  /** The project's ACME account key (PKCS#8 PEM) and its RFC 7638 thumbprint (the CLI's: the HTTP-01 answers). */
  accountKey: string;
  thumbprint: string;
  /** A CA (PEM) to trust for the directory's HTTPS: a private ACME server's. */
  ca?: string;
  /** This machine's name and the app's machines (with their private addresses: where their mesh listens). */
  self: string;
  machines: { name: string; addr?: string }[];
  /** This machine's http_port: where the CA's HTTP-01 requests arrive. */
  httpPort?: number;
}

export type AutoProxy = Pick<ProxyController, "setTlsCert" | "setAcmeAccount" | "tlsDir" | "ensureRunning">;

const HOUR = 3_600_000;
const clamp = (v: number, lo: number, hi: number) => Math.max(lo, Math.min(hi, v));

/** An auto entry as status and alerting read it: whose, which hosts, and how its renewal goes (no key). */
export interface AutoReport {
  id: string;
  project: string;
  app: string;
  hosts: string[];
  /** This machine's name in the project. */
  self: string;
  auto: AutoFacts;
}

const iso = (t: number | undefined) => (t === undefined || !Number.isFinite(t) ? undefined : new Date(t).toISOString());

export class AutoTls {
  readonly dir: string;
  /** What each certificate's last order or pull did (acme-record.ts). */
  readonly record: AcmeRecord;
  private readonly dueSince = new Map<string, number>();
  private readonly nextPull = new Map<string, number>();
  private readonly retryAt = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private stopped = true;

  constructor(
    private readonly proxy: AutoProxy,
    private readonly mesh: MeshCerts,
    private readonly log: (s: string) => void,
    /** How long rank r waits per rank when there is no certificate at all (the deploy orders the first one). */
    private readonly noCertGraceMs = 10 * 60_000,
    private readonly now: () => number = Date.now,
  ) {
    this.dir = join(proxy.tlsDir(), "auto");
    this.record = new AcmeRecord(proxy.tlsDir(), log);
  }

  private file(id: string): string {
    if (!/^[a-z0-9][a-z0-9_.-]{0,200}$/.test(id)) throw new Error(`certificate id ${JSON.stringify(id)} must be lowercase letters, digits, _ . -`);
    return join(this.dir, `${id}.json`);
  }

  entries(): AutoEntry[] {
    if (!existsSync(this.dir)) return [];
    return readdirSync(this.dir)
      .filter((f) => f.endsWith(".json"))
      .flatMap((f) => {
        try {
          return [JSON.parse(readFileSync(join(this.dir, f), "utf8")) as AutoEntry];
        } catch (e) {
          this.log(`tls auto: skipped ${f}: ${(e as Error).message}`);
          return [];
        }
      });
  }

  entry(id: string): AutoEntry | undefined {
    return this.entries().find((e) => e.id === id);
  }

  /** The entries (never their keys) with the certificate served for each. */
  list(): { id: string; app: string; hosts: string[]; serial?: string; notAfter?: string }[] {
    return this.entries().map((e) => {
      const c = this.current(e.id);
      return { id: e.id, app: e.app, hosts: e.hosts, ...(c ? { serial: c.serial, notAfter: new Date(c.notAfter).toISOString() } : {}) };
    });
  }

  /** Each entry's renewal as plain objects: when it is due, the last attempt and its result, the last error and
   *  since when orders fail, where the served certificate came from. For `skiff status` and alerting. */
  report(): AutoReport[] {
    return this.entries().map((e) => {
      const cert = this.current(e.id);
      const r = this.record.get(e.id);
      const retry = this.retryAt.get(e.id);
      const facts: AutoFacts = {
        dueAt: iso(cert ? dueAt(cert) : undefined),
        dueSince: iso(this.dueSince.get(e.id)),
        lastAttemptAt: iso(r?.lastAttemptAt),
        lastResult: r?.lastResult,
        lastError: r?.lastResult === "failed" ? r.lastError : undefined,
        failingSince: r?.lastResult === "failed" ? iso(r.failingSince) : undefined,
        retryAt: retry !== undefined && retry > this.now() ? iso(retry) : undefined,
        // Only when the record is about the certificate served now (one served before the record began: unknown).
        from: r?.got && cert && r.got.serial === cert.serial ? r.got.from : undefined,
      };
      return { id: e.id, project: e.project, app: e.app, hosts: e.hosts, self: e.self, auto: facts };
    });
  }

  /** The certificate this machine serves for an entry, as the schedule reads it. */
  current(id: string): (CertTimes & { serial: string }) | undefined {
    const path = join(this.proxy.tlsDir(), `${id}.pem`);
    if (!existsSync(path)) return undefined;
    try {
      const leaf = new X509Certificate(readFileSync(path, "utf8"));
      return { notBefore: Date.parse(leaf.validFrom), notAfter: Date.parse(leaf.validTo), serial: leaf.serialNumber };
    } catch {
      return undefined;
    }
  }

  /** Keeps an entry (a deploy sends it to each machine of the app) and puts the project's challenge answers into
   *  HAProxy; returns the certificate served now, if any. */
  async register(e: AutoEntry): Promise<{ serial: string; notAfter: string; due: boolean } | undefined> {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    writeAtomic(this.file(e.id), JSON.stringify(e), { mode: 0o600 });
    // The CA may come to this machine before any app routes here: HAProxy answers the challenges.
    await this.proxy.ensureRunning();
    await this.answer(e.project);
    this.wake();
    const c = this.current(e.id);
    return c && { serial: c.serial, notAfter: new Date(c.notAfter).toISOString(), due: this.now() >= dueAt(c) };
  }

  /** Drops an app's entries except `keep` (its routes no longer ask for them, or the app is gone). */
  async forget(project: string, app: string, keep: string[]): Promise<string[]> {
    const gone = this.entries().filter((e) => e.project === project && e.app === app && !keep.includes(e.id));
    for (const e of gone) rmSync(this.file(e.id), { force: true });
    if (gone.length) await this.answer(project);
    this.record.drop(gone.map((e) => e.id));
    return gone.map((e) => e.id);
  }

  /** HTTP-01 answers for all the project's auto hosts here (none left: the project's answers go). */
  private async answer(project: string): Promise<void> {
    const mine = this.entries().filter((x) => x.project === project);
    const hosts = [...new Set(mine.flatMap((x) => x.hosts))];
    await this.proxy.setAcmeAccount(project, mine[0]?.thumbprint ?? "", hosts, mine[0]?.httpPort);
  }

  private caFile(e: AutoEntry): string | undefined {
    if (!e.ca) return undefined;
    const f = join(this.dir, `${e.project}.ca.pem`);
    writeAtomic(f, e.ca, { mode: 0o600 });
    return f;
  }

  /** Orders the entry's certificate now and serves it. */
  async issue(id: string): Promise<{ applied: "live" | "disk"; cert: TlsCertInfo; ms: Record<string, number> }> {
    const e = this.entry(id);
    if (!e) throw new Error(`no tls: auto certificate ${id} on this machine (deploy the app first)`);
    let r: Awaited<ReturnType<typeof issueCert>>;
    try {
      r = await issueCert(this.proxy.tlsDir(), (i, h, c, k) => this.proxy.setTlsCert(i, h, c, k), { project: e.project, id: e.id, hosts: e.hosts, directory: e.directory, accountKey: e.accountKey, email: e.email, caFile: this.caFile(e) });
    } catch (x) {
      this.record.failed(id, (x as Error).message, this.now());
      throw x;
    }
    this.record.succeeded(id, "ordered", { serial: r.cert.serial, from: e.self }, this.now());
    this.dueSince.delete(id);
    this.log(`tls auto: ${e.hosts.join(", ")}: ordered serial ${r.cert.serial} (until ${r.cert.notAfter}) ${JSON.stringify(r.ms)}`);
    return r;
  }

  /** Takes the newest certificate the app's other machines have, when it is newer than this one's. */
  async pull(id: string): Promise<{ pulled: boolean; from?: string; serial?: string; errors: string[] }> {
    const e = this.entry(id);
    if (!e) throw new Error(`no tls: auto certificate ${id} on this machine (deploy the app first)`);
    const files = this.mesh.files(e.project);
    if (!existsSync(files.crt)) return { pulled: false, errors: [`no mesh certificate for ${e.project} here (skiff setup issues it)`] };
    const peers = e.machines.filter((m) => m.name !== e.self && m.addr);
    const r = await pullNewest(peers.map((m) => ({ name: m.name, addr: m.addr! })), { project: e.project, id, hosts: e.hosts, crt: readFileSync(files.crt, "utf8"), ca: readFileSync(files.ca, "utf8") });
    const mine = this.current(id);
    if (!r.best || (mine && Date.parse(r.best.leaf.validTo) <= mine.notAfter)) return { pulled: false, errors: r.errors };
    const got = await this.proxy.setTlsCert(id, e.hosts, r.best.cert, r.best.key);
    this.record.succeeded(id, "pulled", { serial: got.cert.serial, from: r.best.from }, this.now());
    this.dueSince.delete(id);
    this.log(`tls auto: ${e.hosts.join(", ")}: pulled serial ${got.cert.serial} from ${r.best.from}`);
    return { pulled: true, from: r.best.from, serial: got.cert.serial, errors: r.errors };
  }

  start(): void {
    this.stopped = false;
    this.wake();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  /** Runs the tick now (after the one running, if any). */
  wake(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.running = this.running.then(() => this.tick()).then(
      (wait) => this.schedule(wait),
      (e: Error) => (this.log(`tls auto: ${e.message}`), this.schedule(60_000)),
    );
  }

  private schedule(waitMs: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.wake(), clamp(waitMs, 500, HOUR));
    this.timer.unref();
  }

  /** One pass over the entries; returns how long to sleep. */
  async tick(): Promise<number> {
    let wake = this.now() + HOUR;
    for (const e of this.entries()) {
      const now = this.now();
      const cert = this.current(e.id);
      if (cert && now < dueAt(cert)) {
        // Not due: the next due time starts afresh. A pull time left from an earlier one (set with that one's grace:
        // without a certificate, 10 min, so a pull every 2.5 min) held the next renewal's pulls back until then, and
        // a short-lived certificate reached the other machines only at their turn to order.
        this.dueSince.delete(e.id);
        this.nextPull.delete(e.id);
        wake = Math.min(wake, dueAt(cert));
        continue;
      }
      const life = cert ? cert.notAfter - cert.notBefore : undefined;
      const grace = life ? life / 12 : this.noCertGraceMs;
      // Due: the others may have renewed it already (pulls are cheap; while due, every quarter of the grace).
      const pullEvery = clamp(grace / 4, 2000, 5 * 60_000);
      if (now >= (this.nextPull.get(e.id) ?? 0)) {
        this.nextPull.set(e.id, now + pullEvery);
        const p = await this.pull(e.id).catch((x: Error) => ({ pulled: false, errors: [x.message] }));
        if (p.pulled) {
          wake = Math.min(wake, this.now() + 500);
          continue;
        }
        if (p.errors.length) this.log(`tls auto: ${e.hosts.join(", ")}: due; peers: ${p.errors.join("; ")}`);
      }
      if (!this.dueSince.has(e.id)) this.dueSince.set(e.id, now);
      // No certificate at all: the deploy orders the first one (tls.issue), so even rank 0 waits a grace first.
      const rank = rankOf(e.self, e.machines.map((m) => m.name)) + (cert ? 0 : 1);
      const d = decide({ now, cert, rank, dueSince: this.dueSince.get(e.id), noCertGraceMs: this.noCertGraceMs });
      const retry = this.retryAt.get(e.id) ?? 0;
      if (d.action === "order" && now >= retry) {
        // A last look first: an earlier rank may have finished its order since the last pull.
        if (this.nextPull.get(e.id) !== now + pullEvery) {
          const p = await this.pull(e.id).catch((x: Error) => ({ pulled: false, errors: [x.message] }));
          if (p.pulled) {
            wake = Math.min(wake, this.now() + 500);
            continue;
          }
        }
        this.log(`tls auto: ${e.hosts.join(", ")}: ordering (${d.reason})`);
        try {
          await this.issue(e.id);
          this.retryAt.delete(e.id);
          wake = Math.min(wake, this.now() + 500);
          continue;
        } catch (x) {
          this.log(`tls auto: ${e.hosts.join(", ")}: ${(x as Error).message}`);
          this.retryAt.set(e.id, this.now() + clamp(grace, 10_000, HOUR));
        }
      }
      wake = Math.min(wake, this.nextPull.get(e.id)!, d.action === "wait" ? d.until : Math.max(this.retryAt.get(e.id) ?? 0, now + 500));
    }
    return wake - this.now();
  }
}
