// The HTTPS certificates of `skiff status` (pure): each machine's report
// (agent/tls-facts.ts) with its warnings (contracts/cert-warnings.ts: ending
// within 14 days, renewal failing, none yet) and, across machines, who ordered
// a `tls: auto` certificate and where the machines serve different ones.
import { certWarnings, minute } from "../contracts/cert-warnings.ts";
import type { TlsHostFacts } from "../contracts/tls-facts.ts";

export type { TlsHostFacts };
export { certWarnings, day, EXPIRY_WARNING_DAYS, expiresIn, minute } from "../contracts/cert-warnings.ts";

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
