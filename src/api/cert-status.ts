// The HTTPS certificates of `skiff status` (pure): each machine's report
// (agent/tls-facts.ts) with what deserves a look — expiring within 14 days or
// expired, a failing renewal with its error and since when, nothing served
// yet — and, across machines, who ordered a `tls: auto` certificate and where
// the machines serve different ones.
import type { TlsHostFacts } from "../contracts/tls-facts.ts";

export type { TlsHostFacts };

/** A certificate expiring sooner than this is worth a warning (a renewal that works renews at a third of the life left: 30 days of Let's Encrypt's 90). */
export const EXPIRY_WARNING_DAYS = 14;
const DAY = 86_400_000;

/** A certificate as `skiff status` reports it on one machine. */
export interface TlsStatus extends TlsHostFacts {
  /** Whole days until the certificate ends (negative: ended); absent: none served. */
  expiresInDays?: number;
  /** tls: auto: the machine whose order brought the served certificate (followed through the pulls), when known. */
  orderedBy?: string;
  /** What deserves a look, in words: expiring within 14 days or expired, renewal failing, none served. */
  warnings: string[];
}

/** "2026-12-09" */
export const day = (iso: string) => iso.slice(0, 10);
/** "2026-12-09 10:12 UTC" */
export const minute = (iso: string) => `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;

/** "in 9 days (2026-12-09)", "in 5 h (…)", "expired 3 days ago (…)". */
export function expiresIn(notAfter: string, now: number): string {
  const left = Date.parse(notAfter) - now;
  const span = (ms: number) => (ms >= DAY ? `${Math.floor(ms / DAY)} day${ms >= 2 * DAY ? "s" : ""}` : `${Math.max(0, Math.floor(ms / 3_600_000))} h`);
  return left > 0 ? `in ${span(left)} (${day(notAfter)})` : `expired ${span(-left)} ago (${day(notAfter)})`;
}

/** The warnings of one certificate on one machine. */
export function certWarnings(f: TlsHostFacts, now: number): string[] {
  const out: string[] = [];
  if (f.cert) {
    const left = Date.parse(f.cert.notAfter) - now;
    if (left <= 0) out.push(expiresIn(f.cert.notAfter, now));
    else if (left < EXPIRY_WARNING_DAYS * DAY) out.push(`expires ${expiresIn(f.cert.notAfter, now)}`);
  } else {
    out.push(f.kind === "auto" ? "no certificate served yet" : "its certificate file cannot be read");
  }
  const a = f.auto;
  if (a?.lastResult === "failed") {
    const since = a.failingSince ?? a.lastAttemptAt;
    const last = a.lastAttemptAt && a.lastAttemptAt !== since ? `, last try ${minute(a.lastAttemptAt)}` : "";
    const next = a.retryAt ? `, next try ${minute(a.retryAt)}` : "";
    out.push(`renewal failing${since ? ` since ${minute(since)}` : ""}${last}${next}: ${a.lastError ?? "no error recorded"}`);
  }
  return out;
}

/** Each machine's facts for one project (and app), with their warnings and who ordered each auto certificate. */
export function certStatus(byMachine: { machine: string; tls?: TlsHostFacts[] }[], now: number, keep: (f: TlsHostFacts) => boolean = () => true): Map<string, TlsStatus[] | undefined> {
  const facts = new Map(byMachine.map((m) => [m.machine, m.tls?.filter(keep)] as const));
  const out = new Map<string, TlsStatus[] | undefined>();
  for (const [machine, list] of facts) {
    out.set(
      machine,
      list?.map((f) => {
        const orderedBy = originOf(facts, machine, f);
        return { ...f, ...(f.cert ? { expiresInDays: Math.floor((Date.parse(f.cert.notAfter) - now) / DAY) } : {}), ...(orderedBy ? { orderedBy } : {}), warnings: certWarnings(f, now) };
      }),
    );
  }
  return out;
}

/** Follows `from` (the machine a certificate was pulled from) to the machine that ordered it, while the serial is
 *  the same; undefined when a link is not recorded. */
export function originOf(facts: Map<string, TlsHostFacts[] | undefined>, machine: string, f: TlsHostFacts): string | undefined {
  const serial = f.cert?.serial;
  let at = machine;
  let cur: TlsHostFacts | undefined = f;
  for (let hops = 0; serial && cur && hops <= facts.size; hops++) {
    const from: string | undefined = cur.auto?.from;
    if (!from) return undefined;
    if (from === at) return at;
    at = from;
    cur = facts.get(from)?.find((x) => x.id === f.id && x.cert?.serial === serial);
  }
  return undefined;
}

/** One served certificate and the machines serving it (a host the machines disagree on has several). */
export interface CertGroup {
  id: string;
  hosts: string[];
  kind: "repo" | "auto";
  machines: string[];
  facts: TlsStatus;
}

/** Rows for the table: per certificate id, one per distinct serial (none served: its own group), soonest end first. */
export function certGroups(status: Map<string, TlsStatus[] | undefined>): CertGroup[] {
  const groups = new Map<string, CertGroup>();
  for (const [machine, list] of status)
    for (const f of list ?? []) {
      const key = `${f.id}\n${f.cert?.serial ?? "-"}`;
      const g = groups.get(key);
      if (g) g.machines.push(machine);
      else groups.set(key, { id: f.id, hosts: f.hosts, kind: f.kind, machines: [machine], facts: f });
    }
  const end = (g: CertGroup) => (g.facts.cert ? Date.parse(g.facts.cert.notAfter) : -Infinity);
  return [...groups.values()].sort((a, b) => a.id.localeCompare(b.id) || end(a) - end(b));
}

/** A line per certificate the machines serve differently ("m1 until …, m2 until …"), newest first. */
export function disagreements(groups: CertGroup[]): string[] {
  const byId = new Map<string, CertGroup[]>();
  for (const g of groups) byId.set(g.id, [...(byId.get(g.id) ?? []), g]);
  return [...byId.values()]
    .filter((gs) => gs.length > 1)
    .map((gs) => {
      const parts = [...gs].reverse().map((g) => `${g.machines.join(", ")} ${g.facts.cert ? `until ${minute(g.facts.cert.notAfter)} (serial ${g.facts.cert.serial.slice(0, 8)}…)` : "none"}`);
      return `${gs[0]!.hosts.join(", ")}: the machines serve different certificates: ${parts.join("; ")}`;
    });
}
