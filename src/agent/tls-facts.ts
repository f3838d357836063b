// Every HTTPS certificate this machine keeps, as plain objects (no key): the
// `tls` of the `state` RPC that `skiff status` shows, and what alerting reads
// in-process. The served certificates come from the proxy's store (repo and
// auto alike); an auto entry adds how its renewal goes, and an auto entry with
// no certificate yet is listed too (nothing served: that is the news).
import type { TlsHostFacts } from "../contracts/tls-facts.ts";
import type { AutoReport } from "./acme-auto.ts";
import { servedCerts, type ServedCert } from "./proxy-tls.ts";
import { byCodeUnit } from "../lib/order.ts";

/** Route certificate ids are PROJECT_APP_HOST (exec/tls-certs.ts); names have no "_", so the first two parts say whose. */
const ID = /^([a-z][a-z0-9-]*)_([a-z][a-z0-9-]*)_./;

export function tlsFacts(served: ServedCert[], auto: AutoReport[]): TlsHostFacts[] {
  const byId = new Map(auto.map((a) => [a.id, a]));
  const out: TlsHostFacts[] = served.map((s) => {
    const a = byId.get(s.id);
    const m = ID.exec(s.id);
    return {
      id: s.id,
      ...(a ? { project: a.project, app: a.app } : m ? { project: m[1], app: m[2] } : {}),
      kind: a ? "auto" : "repo",
      hosts: s.hosts,
      ...(s.cert ? { cert: s.cert } : {}),
      ...(a ? { auto: a.auto } : {}),
    };
  });
  const seen = new Set(served.map((s) => s.id));
  for (const a of auto) if (!seen.has(a.id)) out.push({ id: a.id, project: a.project, app: a.app, kind: "auto", hosts: a.hosts, auto: a.auto });
  return out.sort((x, y) => byCodeUnit(x.id, y.id));
}

/** What this agent reports: the certificates in its proxy's tls directory (TlsStore.dir) and its auto entries (an
 *  agent without tls: auto, none). Undefined when they cannot be read: status says "unknown" rather than failing
 *  the whole state. */
export function agentTlsFacts(proxy: { tlsDir(): string }, auto?: { report(): AutoReport[] }): TlsHostFacts[] | undefined {
  try {
    return tlsFacts(servedCerts(proxy.tlsDir()), auto?.report() ?? []);
  } catch {
    return undefined;
  }
}
