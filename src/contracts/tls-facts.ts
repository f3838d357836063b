// What an agent says about each HTTPS certificate it serves (the `tls` of the
// `state` RPC, `skiff status`): the certificate's facts, and for `tls: auto`
// ones how their renewal goes. Never a key: only what a certificate shows to
// anyone who connects, and the renewal's own record.
import * as z from "zod/mini";

const opt = z.optional;

/** A served certificate as its leaf says. */
export const certFacts = z.object({
  /** The subject's CN. */
  subject: z.string(),
  /** The issuer's CN, with its O in parentheses when it has one: "R3 (Let's Encrypt)". */
  issuer: z.string(),
  /** The DNS names it covers (subjectAltName; the subject's CN when it has none). */
  names: z.array(z.string()),
  /** ISO 8601. */
  notBefore: z.string(),
  /** ISO 8601: when it expires. */
  notAfter: z.string(),
  /** Hex, as X509Certificate.serialNumber. */
  serial: z.string(),
  fingerprint256: z.string(),
});
export type CertFacts = z.infer<typeof certFacts>;

/** How a machine's `tls: auto` renewal goes for one certificate (times ISO 8601; absent: not known). */
export const autoFacts = z.object({
  /** When the served certificate becomes due for renewal (a third of its lifetime left); absent: none served, due now. */
  dueAt: opt(z.string()),
  /** Since when this machine has seen it due with no newer copy at its peers. */
  dueSince: opt(z.string()),
  /** The last order or pull that brought a certificate, or the last order that failed. */
  lastAttemptAt: opt(z.string()),
  /** ordered: this machine's order brought it; pulled: taken from a peer; failed: an order failed (lastError). */
  lastResult: opt(z.enum(["ordered", "pulled", "failed"])),
  /** The last failure's message, short, one line (never a key). */
  lastError: opt(z.string()),
  /** The first of the failures since the last success: "renewal failing since". */
  failingSince: opt(z.string()),
  /** When the next order may start after a failed one (this agent's memory: absent after a restart). */
  retryAt: opt(z.string()),
  /** Where the served certificate came from: this machine's name (it ordered it) or the peer it was pulled from
   *  (absent: not recorded, e.g. served before this record existed). */
  from: opt(z.string()),
});
export type AutoFacts = z.infer<typeof autoFacts>;

/** One certificate a machine keeps: a route's from the repo, or a `tls: auto` one (maybe not served yet). */
export const tlsHostFacts = z.object({
  /** PROJECT_APP_HOST: the certificate's file is <proxy dir>/tls/ID.pem. */
  id: z.string(),
  project: opt(z.string()),
  app: opt(z.string()),
  /** repo: `tls: { cert, key }`, sent by deploys; auto: `tls: auto`, ordered and renewed by the machines. */
  kind: z.enum(["repo", "auto"]),
  /** The route hosts it is served for. */
  hosts: z.array(z.string()),
  /** Absent: none served yet (an auto certificate before its first order), or its file does not parse. */
  cert: opt(certFacts),
  /** tls: auto only: how its renewal goes here. */
  auto: opt(autoFacts),
});
export type TlsHostFacts = z.infer<typeof tlsHostFacts>;
