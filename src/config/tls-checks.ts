// Routes with `tls: { cert, key }`: the certificate file is read and checked
// when the config is (so `skiff validate` and every command point at the line):
// a route with tls names its host, the file holds a certificate for that host,
// not yet expired. The key is a secret: it is checked against the certificate
// where secrets are read (exec/tls-certs.ts).
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import type { Problem } from "./rules.ts";
import type { ConfigInput } from "./schema.ts";

/** The certificates of a PEM chain, leaf first; throws when there is none or one does not parse. */
export function parseChain(pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (!blocks.length) throw new Error("no PEM certificate (-----BEGIN CERTIFICATE-----) in it");
  return blocks.map((b) => new X509Certificate(b));
}

const DAY = 86_400_000;

export function tlsRouteProblems(c: ConfigInput, dir: string, now = Date.now()): Problem[] {
  const out: Problem[] = [];
  for (const [name, app] of Object.entries(c.apps ?? {})) {
    (app.routes ?? []).forEach((r, i) => {
      if (!r.tls) return;
      const at = ["apps", name, "routes", i];
      if (r.host === undefined) {
        out.push({ path: at, key: "tls", message: `route ${i + 1} of app "${name}" has tls but no host: HTTPS picks the certificate by host name`, hint: "add host: shop.example.com to the route" });
        return;
      }
      const tls = r.tls === "auto" ? { auto: true as const } : r.tls;
      if (tls.auto && (tls.cert !== undefined || tls.key !== undefined)) {
        out.push({ path: [...at, "tls"], message: "tls has auto and a cert: one source only", hint: "drop cert and key to get the certificate over ACME, or drop auto to serve the one from the repo" });
        return;
      }
      // A route host is never a wildcard (schema), so HTTP-01 can prove each one.
      if (tls.auto) return;
      if (tls.cert === undefined || tls.key === undefined) {
        out.push({ path: [...at, "tls"], message: `tls needs ${tls.cert === undefined ? "cert" : "key"}${tls.cert === undefined && tls.key === undefined ? " and key" : ""} (or auto)`, hint: "tls: auto gets a certificate over ACME; tls: { cert: certs/site.pem, key: SITE_TLS_KEY } serves one from the repo" });
        return;
      }
      const file = resolve(dir, tls.cert);
      let leaf: X509Certificate;
      try {
        leaf = parseChain(readFileSync(file, "utf8"))[0]!;
      } catch (e) {
        const why = (e as NodeJS.ErrnoException).code ? `cannot be read (${(e as NodeJS.ErrnoException).code})` : `is not a PEM certificate: ${(e as Error).message}`;
        out.push({ path: [...at, "tls", "cert"], message: `certificate file ${tls.cert} ${why}`, hint: "give the PEM file (certificate first, then its intermediates), relative to skiff.yml" });
        return;
      }
      if (!leaf.checkHost(r.host)) out.push({ path: [...at, "tls", "cert"], message: `certificate ${tls.cert} is not for ${r.host} (it names ${leaf.subjectAltName ?? leaf.subject})`, hint: "use a certificate whose names include the route's host" });
      else if (Date.parse(leaf.validTo) <= now) out.push({ path: [...at, "tls", "cert"], message: `certificate ${tls.cert} expired on ${new Date(leaf.validTo).toISOString().slice(0, 10)}`, hint: "renew it and commit the new file" });
    });
  }
  if (c.acme?.ca !== undefined) {
    try {
      parseChain(readFileSync(resolve(dir, c.acme.ca), "utf8"));
    } catch (e) {
      out.push({ path: ["acme", "ca"], message: `CA file ${c.acme.ca} ${(e as NodeJS.ErrnoException).code ? `cannot be read (${(e as NodeJS.ErrnoException).code})` : `is not a PEM certificate: ${(e as Error).message}`}`, hint: "give the PEM file of the CA that signed the ACME directory's HTTPS certificate, relative to skiff.yml" });
    }
  }
  return out;
}

/** Days left before a certificate ends (negative once it has). */
export const daysLeft = (leaf: X509Certificate, now = Date.now()) => Math.floor((Date.parse(leaf.validTo) - now) / DAY);
