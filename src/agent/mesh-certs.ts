// This machine's mesh certificates, one per project: the agent makes the key
// pair (the private key never leaves the machine), the CLI signs the public key
// with the project's CA, the agent checks what comes back and keeps it next to
// HAProxy's config. Files: <dir>/<project>.pem (certificate + key, 0600, what
// HAProxy loads), <dir>/<project>.ca.pem (the CA, 0644), <dir>/<project>.key.new
// (a key waiting for its certificate, 0600).
import { createPrivateKey, generateKeyPairSync, X509Certificate } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { writeAtomic } from "./atomic-write.ts";

export interface MeshCertFiles {
  crt: string;
  ca: string;
}

export interface MeshCertInfo {
  project: string;
  subject: string;
  issuer: string;
  notAfter: string;
  fingerprint: string;
  caSubjects: string[];
}

const PEM_CERTS = /-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+?-----END CERTIFICATE-----/g;

/** Every certificate in a PEM bundle (a CA file may hold two during a CA change). */
export function pemCerts(text: string): X509Certificate[] {
  return (text.match(PEM_CERTS) ?? []).map((p) => new X509Certificate(p));
}

export class MeshCerts {
  constructor(readonly dir: string) {}

  files(project: string): MeshCertFiles {
    return { crt: join(this.dir, `${project}.pem`), ca: join(this.dir, `${project}.ca.pem`) };
  }
  private pending(project: string): string {
    return join(this.dir, `${project}.key.new`);
  }

  /** A new key pair for the project; the private key waits (0600) for its certificate. Returns the public key (SPKI PEM). */
  newKey(project: string): string {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const k = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    writeAtomic(this.pending(project), k.privateKey.export({ type: "pkcs8", format: "pem" }) as string, { mode: 0o600 });
    return k.publicKey.export({ type: "spki", format: "pem" }) as string;
  }

  /** Checks a certificate against the waiting key and the CA bundle and writes both files; returns what HAProxy
   *  must load (the certificate with its key, the CA bundle). Refused (nothing written): a certificate for another
   *  key, one the CA did not sign, one out of its validity. The same certificate again (a repeated install) is
   *  taken with the key already in use. */
  install(project: string, certPem: string, caPem: string, now = new Date()): { files: MeshCertFiles; crtPem: string; caPem: string; caChanged: boolean } {
    const cert = pemCerts(certPem)[0];
    if (!cert) throw new Error("the machine certificate is not a PEM certificate");
    const cas = pemCerts(caPem);
    if (!cas.length) throw new Error("the CA file holds no PEM certificate");
    if (!cas.some((ca) => cert.checkIssued(ca) && cert.verify(ca.publicKey))) throw new Error("the machine certificate is not signed by the project CA it came with");
    if (new Date(cert.validFrom) > now || new Date(cert.validTo) < now) throw new Error(`the machine certificate is not valid now (${cert.validFrom} to ${cert.validTo})`);
    const files = this.files(project);
    const keyText = [this.pending(project), files.crt].map((f) => (existsSync(f) ? readFileSync(f, "utf8") : "")).find((t) => t && this.keyMatches(cert, t));
    if (!keyText) throw new Error("the machine certificate is not for this machine's key (was the key made again since?): run the command again");
    const key = createPrivateKey(keyText).export({ type: "pkcs8", format: "pem" }) as string;
    const crtPem = `${cert.toString().trim()}\n${key.trim()}\n`;
    const caOut = cas.map((c) => c.toString().trim()).join("\n") + "\n";
    const caChanged = !existsSync(files.ca) || readFileSync(files.ca, "utf8") !== caOut;
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    writeAtomic(files.ca, caOut, { mode: 0o644 });
    writeAtomic(files.crt, crtPem, { mode: 0o600 });
    rmSync(this.pending(project), { force: true });
    return { files, crtPem, caPem: caOut, caChanged };
  }

  private keyMatches(cert: X509Certificate, pem: string): boolean {
    try {
      return cert.checkPrivateKey(createPrivateKey(pem));
    } catch {
      return false;
    }
  }

  /** The certificate of each project this machine has one for (all of them, or these). */
  list(projects?: string[]): MeshCertInfo[] {
    let names = projects;
    if (!names) {
      try {
        names = readdirSync(this.dir).filter((f) => f.endsWith(".pem") && !f.endsWith(".ca.pem")).map((f) => f.slice(0, -4)).sort();
      } catch {
        names = [];
      }
    }
    return names.flatMap((project) => {
      const f = this.files(project);
      try {
        const c = pemCerts(readFileSync(f.crt, "utf8"))[0]!;
        return [{ project, subject: c.subject, issuer: c.issuer, notAfter: new Date(c.validTo).toISOString(), fingerprint: c.fingerprint256, caSubjects: pemCerts(readFileSync(f.ca, "utf8")).map((x) => x.subject) }];
      } catch {
        return [];
      }
    });
  }
}
