// Test certificates for HTTPS routes: a throwaway CA and leaf certificates for
// host names, made with @peculiar/x509 (node:crypto cannot make certificates).
import { randomBytes } from "node:crypto";
import "reflect-metadata";
import * as x509 from "@peculiar/x509";

const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const DAY = 86_400_000;
const serial = () => {
  const b = randomBytes(16);
  // Positive, and no leading zero byte: DER drops one (X509Certificate then reads 15 bytes, not these 16), which
  // failed the tests that compare serials about once in 128 runs.
  b[0] = b[0]! & 0x7f || 0x01;
  return b.toString("hex");
};
const pkcs8Pem = async (k: CryptoKey) => `-----BEGIN PRIVATE KEY-----\n${Buffer.from(await crypto.subtle.exportKey("pkcs8", k)).toString("base64").replace(/.{64}/g, "$&\n").replace(/\n?$/, "\n")}-----END PRIVATE KEY-----\n`;

export interface TestCa {
  cert: string;
  keys: CryptoKeyPair;
  subject: string;
}

export async function testCa(name = "skiff test CA"): Promise<TestCa> {
  const keys = (await crypto.subtle.generateKey(ALG, true, ["sign", "verify"])) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${name} ${randomBytes(3).toString("hex")}`,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 30 * DAY),
    keys,
    signingAlgorithm: ALG,
    extensions: [new x509.BasicConstraintsExtension(true, 0, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true)],
  });
  return { cert: cert.toString("pem") + "\n", keys, subject: cert.subject };
}

/** A leaf for these names; `cert` is the chain (leaf, then the CA as its intermediate), `key` its PKCS#8 PEM. */
export async function testLeaf(ca: TestCa, hosts: string[], opts: { days?: number; notBefore?: Date; ips?: string[]; clientAuth?: boolean } = {}): Promise<{ cert: string; key: string; serial: string }> {
  const keys = (await crypto.subtle.generateKey(ALG, true, ["sign", "verify"])) as CryptoKeyPair;
  const sn = serial();
  const notBefore = opts.notBefore ?? new Date(Date.now() - 60_000);
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: sn,
    subject: `CN=${hosts[0]}`,
    issuer: ca.subject,
    notBefore,
    notAfter: new Date(notBefore.getTime() + (opts.days ?? 90) * DAY),
    signingKey: ca.keys.privateKey,
    publicKey: keys.publicKey,
    signingAlgorithm: ALG,
    extensions: [new x509.SubjectAlternativeNameExtension([...hosts.map((h) => ({ type: "dns" as const, value: h })), ...(opts.ips ?? []).map((ip) => ({ type: "ip" as const, value: ip }))]), new x509.ExtendedKeyUsageExtension(["1.3.6.1.5.5.7.3.1", ...(opts.clientAuth ? ["1.3.6.1.5.5.7.3.2"] : [])]), new x509.BasicConstraintsExtension(false)],
  });
  return { cert: leaf.toString("pem") + "\n" + ca.cert, key: await pkcs8Pem(keys.privateKey), serial: sn.toUpperCase() };
}
