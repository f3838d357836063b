// The project's CA for mutual TLS between machines (the mesh): an ECDSA P-256
// key and a self-signed certificate, and machine certificates signed with it
// for public keys the machines made themselves (their keys never leave them).
// X.509 through @peculiar/x509, loaded only by the commands that issue.
import { randomBytes, X509Certificate } from "node:crypto";
import { meshCertNames } from "../contracts/mesh.ts";

const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const DAY = 86_400_000;
/** CA: ten years; machines: one (rotate with `skiff certs rotate`; status warns 30 days before). */
export const CA_DAYS = 3650;
export const MACHINE_DAYS = 365;

export interface CaKeyPair {
  /** The CA certificate, PEM (public, in the repo). */
  cert: string;
  /** Its PKCS#8 private key, PEM (only ever written age-encrypted). */
  key: string;
}

async function x509() {
  // @peculiar/x509 resolves its parts through tsyringe, which needs the Reflect metadata API.
  await import("reflect-metadata");
  const m = await import("@peculiar/x509");
  // A CommonJS package: its exports are the module's default export (Node's ESM loader and the bundle alike).
  return m.default ?? m;
}

const serial = () => {
  const b = randomBytes(16);
  b[0]! &= 0x7f; // a positive INTEGER
  return b.toString("hex");
};

/** A new CA for a project: its name and a random id in the subject, so two CAs of one project are told apart. */
export async function createCa(project: string, now = new Date()): Promise<CaKeyPair> {
  const x = await x509();
  const keys = (await crypto.subtle.generateKey(ALG, true, ["sign", "verify"])) as CryptoKeyPair;
  const id = randomBytes(4).toString("hex");
  const cert = await x.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=skiff ${project} mesh CA ${id}, O=skiff project ${project}`,
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + CA_DAYS * DAY),
    keys,
    signingAlgorithm: ALG,
    extensions: [
      new x.BasicConstraintsExtension(true, 0, true),
      new x.KeyUsagesExtension(x.KeyUsageFlags.keyCertSign | x.KeyUsageFlags.cRLSign, true),
      await x.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const pkcs8 = Buffer.from(await crypto.subtle.exportKey("pkcs8", keys.privateKey));
  return { cert: cert.toString("pem") + "\n", key: `-----BEGIN PRIVATE KEY-----\n${pkcs8.toString("base64").replace(/.{64}/g, "$&\n").replace(/\n?$/, "\n")}-----END PRIVATE KEY-----\n` };
}

export interface MachineCertRequest {
  project: string;
  machine: string;
  /** The machine's public key, SPKI PEM, as its agent made it. */
  publicKey: string;
  now?: Date;
  days?: number;
}

/** A machine's certificate for its own public key: server and client use, names from meshCertNames. */
export async function issueMachineCert(ca: CaKeyPair, r: MachineCertRequest): Promise<string> {
  const x = await x509();
  const now = r.now ?? new Date();
  const caCert = new x.X509Certificate(ca.cert);
  const der = (pem: string) => Buffer.from(pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, ""), "base64");
  const signingKey = await crypto.subtle.importKey("pkcs8", der(ca.key), ALG, false, ["sign"]);
  const publicKey = await crypto.subtle.importKey("spki", der(r.publicKey), ALG, true, ["verify"]);
  const cert = await x.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${r.machine}, O=skiff project ${r.project}`,
    issuer: caCert.subject,
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + (r.days ?? MACHINE_DAYS) * DAY),
    signingKey,
    publicKey,
    signingAlgorithm: ALG,
    extensions: [
      new x.BasicConstraintsExtension(false, undefined, true),
      new x.KeyUsagesExtension(x.KeyUsageFlags.digitalSignature, true),
      new x.ExtendedKeyUsageExtension([x.ExtendedKeyUsage.serverAuth, x.ExtendedKeyUsage.clientAuth]),
      new x.SubjectAlternativeNameExtension(meshCertNames(r.project, r.machine).map((value) => ({ type: "dns" as const, value }))),
      await x.AuthorityKeyIdentifierExtension.create(caCert, false),
    ],
  });
  const pem = cert.toString("pem") + "\n";
  // Our own check before anything is sent: the chain verifies with Node's own X.509.
  const leaf = new X509Certificate(pem);
  const root = new X509Certificate(ca.cert);
  if (!leaf.checkIssued(root) || !leaf.verify(root.publicKey)) throw new Error("the machine certificate does not verify against the project CA");
  return pem;
}

/** The CA certificate's subject and expiry, for status. */
export function describeCert(pem: string): { subject: string; issuer: string; notAfter: string; fingerprint: string } {
  const c = new X509Certificate(pem);
  return { subject: c.subject, issuer: c.issuer, notAfter: new Date(c.validTo).toISOString(), fingerprint: c.fingerprint256 };
}
