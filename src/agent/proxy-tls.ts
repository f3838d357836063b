// The agent's HTTPS certificates: one PEM file per certificate (chain + key,
// 0600) and the crt-list the HTTPS frontends load, in <proxy dir>/tls. Disk
// first, then the running HAProxy through the Runtime API (a new certificate:
// new/set/commit + add to the crt-list; a renewal: set + commit), so a restart
// or reload loads what is live and no connection is closed. When HAProxy has
// no HTTPS frontend yet, disk alone: the reload that adds it reads the files.
import { createPrivateKey, type X509Certificate } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { parseChain } from "../config/tls-checks.ts";
import type { CertFacts } from "../contracts/tls-facts.ts";
import { certFacts } from "./cert-facts.ts";
import { checkHost } from "../proxy/values.ts";
import { writeAtomic } from "./atomic-write.ts";

export const tlsDir = (proxyDir: string) => join(proxyDir, "tls");

export interface TlsRuntime {
  /** HAProxy runs and loaded this crt-list (it has an HTTPS frontend). */
  loaded(list: string): Promise<boolean>;
  /** Certificate paths in the running HAProxy's crt-list. */
  entries(list: string): Promise<string[]>;
  add(list: string, path: string, pem: string, line: string): Promise<void>;
  swap(path: string, pem: string): Promise<void>;
  remove(list: string, path: string): Promise<void>;
}

export interface TlsCertInfo {
  id: string;
  hosts: string[];
  notAfter: string;
  serial: string;
}

const ID = /^[a-z0-9][a-z0-9_.-]{0,200}$/;

/** The checks a certificate passes before anything is written: it parses, its key is the leaf's, it covers each host. */
export function checkCert(certPem: string, keyPem: string, hosts: string[]): X509Certificate {
  const leaf = parseChain(certPem)[0]!;
  let key;
  try {
    key = createPrivateKey(keyPem);
  } catch {
    throw new Error("the private key is not a PEM private key");
  }
  if (!leaf.checkPrivateKey(key)) throw new Error("the private key does not belong to the certificate");
  for (const h of hosts) if (!leaf.checkHost(checkHost(h))) throw new Error(`the certificate is not for ${h}`);
  return leaf;
}

/** The bundle HAProxy loads: chain then key, PEM blocks only. */
const bundle = (certPem: string, keyPem: string) => `${certPem.trim()}\n${keyPem.trim()}\n`;

export class TlsStore {
  readonly dir: string;
  readonly list: string;

  constructor(proxyDir: string, private readonly rt: TlsRuntime) {
    this.dir = tlsDir(proxyDir);
    this.list = join(this.dir, "crt-list");
  }

  /** HAProxy needs the file to exist before it loads a config with an HTTPS frontend (an empty list starts: strict-sni). */
  ensureList(): void {
    if (!existsSync(this.list)) {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      writeAtomic(this.list, "", { mode: 0o600 });
    }
  }

  /** path → its crt-list line, as on disk. */
  private lines(): Map<string, string> {
    return crtListLines(this.list);
  }

  private writeList(lines: Map<string, string>): void {
    writeAtomic(this.list, [...lines.values()].map((l) => `${l}\n`).join(""), { mode: 0o600 });
  }

  pathOf(id: string): string {
    if (!ID.test(id)) throw new Error(`certificate id ${JSON.stringify(id)} must be lowercase letters, digits, _ . -`);
    return join(this.dir, `${id}.pem`);
  }

  /** Installs or renews a certificate; a refusal leaves the files as they were. */
  async set(id: string, hosts: string[], certPem: string, keyPem: string): Promise<{ applied: "live" | "disk"; cert: TlsCertInfo }> {
    if (!hosts.length) throw new Error("a certificate needs at least one host");
    const leaf = checkCert(certPem, keyPem, hosts);
    const path = this.pathOf(id);
    const pem = bundle(certPem, keyPem);
    const line = `${path} [alpn h2,http/1.1] ${hosts.map((h) => checkHost(h).toLowerCase()).join(" ")}`;
    this.ensureList();
    const before = { pem: existsSync(path) ? readFileSync(path, "utf8") : undefined, lines: this.lines() };
    const lines = new Map(before.lines).set(path, line);
    writeAtomic(path, pem, { mode: 0o600 });
    this.writeList(lines);
    try {
      let applied: "live" | "disk" = "disk";
      if (await this.rt.loaded(this.list)) {
        if ((await this.rt.entries(this.list)).includes(path)) await this.rt.swap(path, pem);
        else await this.rt.add(this.list, path, pem, line);
        applied = "live";
      }
      return { applied, cert: info(id, hosts, leaf) };
    } catch (e) {
      if (before.pem === undefined) rmSync(path, { force: true });
      else writeAtomic(path, before.pem, { mode: 0o600 });
      this.writeList(before.lines);
      throw e;
    }
  }

  /** Takes a certificate away (files and HAProxy's memory); nothing when it is not here. */
  async remove(id: string): Promise<boolean> {
    const path = this.pathOf(id);
    const lines = this.lines();
    if (!lines.has(path)) return false;
    if ((await this.rt.loaded(this.list)) && (await this.rt.entries(this.list)).includes(path)) await this.rt.remove(this.list, path);
    lines.delete(path);
    this.writeList(lines);
    rmSync(path, { force: true });
    return true;
  }

  /** Removes an app's certificates (ids `PROJECT_APP_…`) except those in `keep`: its routes dropped tls, or it was removed. */
  async prune(project: string, app: string, keep: string[]): Promise<string[]> {
    const prefix = `${project}_${app}_`.toLowerCase();
    const gone = [...this.lines().keys()].map((path) => path.slice(this.dir.length + 1, -".pem".length)).filter((id) => id.startsWith(prefix) && !keep.includes(id));
    for (const id of gone) await this.remove(id);
    return gone;
  }

  /** Every certificate HAProxy is told to serve, as plain objects (for status and alerting; no key). */
  facts(): ServedCert[] {
    return servedCerts(this.dir);
  }

  certs(): TlsCertInfo[] {
    return [...this.lines()].flatMap(([path, line]) => {
      try {
        const leaf = parseChain(readFileSync(path, "utf8"))[0]!;
        const id = path.slice(this.dir.length + 1, -".pem".length);
        return [info(id, line.split(/\s+/).slice(3), leaf)];
      } catch {
        return [];
      }
    });
  }
}

/** A certificate in the crt-list with the hosts it serves, and its leaf's facts (absent: its file does not parse). */
export interface ServedCert {
  id: string;
  hosts: string[];
  cert?: CertFacts;
}

/** path → its crt-list line. */
function crtListLines(list: string): Map<string, string> {
  const text = existsSync(list) ? readFileSync(list, "utf8") : "";
  return new Map(text.split("\n").filter((l) => l.trim()).map((l) => [l.split(/\s+/)[0]!, l]));
}

/** The certificates in the crt-list of a tls directory (`TlsStore.dir`), read from disk only: what HAProxy is told
 *  to serve, whatever process asks. */
export function servedCerts(dir: string): ServedCert[] {
  return [...crtListLines(join(dir, "crt-list"))].map(([path, line]) => {
    const id = path.slice(dir.length + 1, -".pem".length);
    const hosts = line.split(/\s+/).slice(3);
    try {
      return { id, hosts, cert: certFacts(readFileSync(path, "utf8")) };
    } catch {
      return { id, hosts };
    }
  });
}

const info = (id: string, hosts: string[], leaf: X509Certificate): TlsCertInfo => ({ id, hosts, notAfter: new Date(leaf.validTo).toISOString(), serial: leaf.serialNumber });
