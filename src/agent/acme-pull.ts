// Followers get a tls: auto certificate from the machine that has it, over the
// mesh (memo §4): an HTTPS GET to each peer's mesh frontend with this
// machine's mesh certificate (mutual TLS under the project's CA), the SNI
// TLS_SHARE_SNI names the share (acme-share.ts answers it there). The newest
// certificate that checks (covers the hosts, its key is its own, not expired)
// wins. The key travels only inside the mesh's TLS.
import { X509Certificate } from "node:crypto";
import { request } from "node:https";
import { MESH_PORT } from "../contracts/mesh.ts";
import { tlsShareSni } from "../proxy/tls.ts";
import { serverAddress } from "../proxy/values.ts";
import { checkCert } from "./proxy-tls.ts";

export interface Pulled {
  from: string;
  cert: string;
  key: string;
  leaf: X509Certificate;
}

/** One peer's copy: the bundle it serves (chain, then key), split. */
function fetchOne(peer: { name: string; addr: string }, o: { project: string; id: string; crt: string; ca: string; timeoutMs: number }): Promise<string> {
  return new Promise((resolve, reject) => {
    const sni = tlsShareSni(o.project);
    const q = request(
      { host: peer.addr, port: MESH_PORT, path: `/tls/${o.id}`, method: "GET", servername: sni, ca: o.ca, cert: o.crt, key: o.crt, timeout: o.timeoutMs, headers: { host: sni } },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c) => (body += c));
        res.on("end", () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`${peer.name}: ${res.statusCode} ${body.trim().slice(0, 120)}`))));
      },
    );
    q.on("timeout", () => q.destroy(new Error(`${peer.name} (${serverAddress(peer.addr, MESH_PORT)}) did not answer in ${o.timeoutMs} ms`)));
    q.on("error", (e) => reject(new Error(`${peer.name}: ${e.message}`)));
    q.end();
  });
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
