// Who orders a `tls: auto` certificate, and when (memo §4), pure: a host's
// machines (this one and its peers for the app) ranked by name; a certificate
// is due when less than a third of its lifetime L is left, or when there is
// none. A due machine pulls from its peers first; if none has a newer one, the
// machine of rank r orders once it has been due for r × G (G = L/12, or
// `noCertGraceMs` when there is no certificate; r capped at 3). So rank 0
// orders first, and a leader that is down only makes the next one order later.

export interface CertTimes {
  notBefore: number;
  notAfter: number;
}

export type Decision = { action: "wait"; until: number } | { action: "pull" } | { action: "order"; reason: string };

export const rankOf = (self: string, machines: string[]): number => Math.min(3, [...new Set([...machines, self])].sort().indexOf(self));

/** When a certificate becomes due (no certificate: it is due already). */
export const dueAt = (c: CertTimes | undefined): number => (c ? c.notAfter - (c.notAfter - c.notBefore) / 3 : -Infinity);

/** What to do now. `dueSince`: when this machine first saw the certificate due and found no newer one at its
 *  peers (undefined: it has not looked yet, so it pulls first). */
export function decide(o: { now: number; cert?: CertTimes; rank: number; dueSince?: number; noCertGraceMs: number }): Decision {
  const due = dueAt(o.cert);
  if (o.now < due) return { action: "wait", until: due };
  if (o.dueSince === undefined) return { action: "pull" };
  const grace = o.cert ? (o.cert.notAfter - o.cert.notBefore) / 12 : o.noCertGraceMs;
  const turn = o.dueSince + Math.min(3, o.rank) * grace;
  if (o.now < turn) return { action: "wait", until: turn };
  const left = o.cert ? `${Math.max(0, Math.round((o.cert.notAfter - o.now) / 1000))} s left` : "no certificate";
  return { action: "order", reason: `${left}, rank ${o.rank}, due for ${Math.round((o.now - o.dueSince) / 1000)} s` };
}
