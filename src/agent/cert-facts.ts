// A served certificate's public facts, read from its PEM (pure): what
// `skiff status` shows and alerting reads. Only the leaf's certificate is
// looked at; a bundle's key block is never parsed here.
import type { CertFacts } from "../contracts/tls-facts.ts";
import { parseChain } from "../config/tls-checks.ts";

/** "C=US\nO=Let's Encrypt\nCN=R3" → its attributes (the last of each name wins, as in a DN's most specific). */
function dnFields(dn: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of dn.split("\n")) {
    const eq = line.indexOf("=");
    if (eq > 0) out.set(line.slice(0, eq).trim(), line.slice(eq + 1).trim());
  }
  return out;
}

/** A DN as people name it: its CN, with its O in parentheses when it has one and says something else. */
export function dnName(dn: string): string {
  const f = dnFields(dn);
  const cn = f.get("CN");
  const o = f.get("O");
  if (cn && o && o !== cn) return `${cn} (${o})`;
  return cn ?? o ?? dn.replace(/\n/g, ", ");
}

/** The DNS names of a subjectAltName string ("DNS:a.test, IP Address:10.0.0.1, DNS:b.test" → a.test, b.test). */
export function dnsNames(san: string | undefined): string[] {
  return (san ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.startsWith("DNS:"))
    .map((s) => s.slice(4));
}

/** The leaf of a PEM (a chain, or a bundle of chain and key) as CertFacts; throws when there is no certificate. */
export function certFacts(pem: string): CertFacts {
  const leaf = parseChain(pem)[0]!;
  const names = dnsNames(leaf.subjectAltName);
  const cn = dnFields(leaf.subject).get("CN");
  return {
    subject: cn ?? leaf.subject.replace(/\n/g, ", "),
    issuer: dnName(leaf.issuer),
    names: names.length ? names : cn ? [cn] : [],
    notBefore: new Date(leaf.validFrom).toISOString(),
    notAfter: new Date(leaf.validTo).toISOString(),
    serial: leaf.serialNumber,
    fingerprint256: leaf.fingerprint256,
  };
}
