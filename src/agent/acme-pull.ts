// Followers get a tls: auto certificate from the machine that has it, over the
// mesh (memo §4): an HTTPS GET to each peer's mesh frontend with this
// machine's mesh certificate (mutual TLS under the project's CA), the SNI
// TLS_SHARE_SNI names the share (acme-share.ts answers it there). The newest
// certificate that checks (covers the hosts, its key is its own, not expired)
// wins. The key travels only inside the mesh's TLS.
import { X509Certificate } from "node:crypto";
import { tlsShareSni } from "../proxy/tls.ts";
import { meshGet } from "./mesh-get.ts";
import { checkCert } from "./proxy-tls.ts";

export interface Pulled {
  from: string;
  cert: string;
  key: string;
  leaf: X509Certificate;
}

/** One peer's copy: the bundle it serves (chain, then key). */
async function fetchOne(peer: { name: string; addr: string }, o: { project: string; id: string; crt: string; ca: string; timeoutMs: number }): Promise<string> {
  const r = await meshGet({ peer: peer.name, addr: peer.addr, sni: tlsShareSni(o.project), path: `/tls/${o.id}`, crt: o.crt, ca: o.ca, timeoutMs: o.timeoutMs });
  if (r.status !== 200) throw new Error(`${peer.name}: ${r.status} ${r.body.trim().slice(0, 120)}`);
  return r.body;
}

export function splitBundle(pem: string): { cert: string; key: string } {
  const certs = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  const key = pem.match(/-----BEGIN (?:EC |RSA )?PRIVATE KEY-----[\s\S]*?-----END (?:EC |RSA )?PRIVATE KEY-----/)?.[0];
  if (!certs.length || !key) throw new Error("not a certificate chain with its key");
  return { cert: `${certs.join("\n")}\n`, key: `${key}\n` };
}

/** Asks every peer; the newest valid copy (or none), and what each failure said. */
export async function pullNewest(peers: { name: string; addr: string }[], o: { project: string; id: string; crt: string; ca: string; hosts?: string[]; timeoutMs?: number }): Promise<{ best?: Pulled; errors: string[] }> {
  const errors: string[] = [];
  let best: Pulled | undefined;
  await Promise.all(
    peers.map(async (p) => {
      try {
        const { cert, key } = splitBundle(await fetchOne(p, { ...o, timeoutMs: o.timeoutMs ?? 5000 }));
        const leaf = checkCert(cert, key, o.hosts ?? []);
        if (Date.parse(leaf.validTo) <= Date.now()) throw new Error(`${p.name}: its copy has expired`);
        if (!best || Date.parse(leaf.validTo) > Date.parse(best.leaf.validTo)) best = { from: p.name, cert, key, leaf };
      } catch (e) {
        errors.push((e as Error).message);
      }
    }),
  );
  return { best, errors };
}
