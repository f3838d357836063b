// tls: auto on the agent: one order through the order process (acme-run.ts),
// and the certificate it brings installed like one from the repo (TlsStore:
// disk first, then the Runtime API). The account URL the CA gave is kept per
// project (0600, beside the certificates) so later orders skip the lookup.
// Not reached from the CLI yet: `tls.issue` is the RPC a deploy will call on
// the host's rank-0 machine (memo §4).
import { X509Certificate } from "node:crypto";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { writeAtomic } from "./atomic-write.ts";
import { runOrder, type OrderRun } from "./acme-run.ts";
import type { TlsCertInfo } from "./proxy-tls.ts";

export interface IssueRequest {
  project: string;
  id: string;
  hosts: string[];
  directory: string;
  accountKey: string;
  email?: string;
  /** A test CA for the directory (pebble's listener); production directories need none. */
  caFile?: string;
}

/** The order program beside the running agent (dist/skiff-acme.cjs next to dist/skiff-agent.cjs). */
export const orderProgram = () => join(dirname(process.argv[1] ?? "."), "skiff-acme.cjs");

const accountFile = (dir: string, project: string) => join(dir, `acme-account.${project}.json`);

/** `dir`: the tls store's directory (the account URL is kept there); `set`: installs a certificate (TlsStore.set
 *  through the proxy's one-change-at-a-time queue). */
export async function issueCert(
  dir: string,
  set: (id: string, hosts: string[], cert: string, key: string) => Promise<{ applied: "live" | "disk"; cert: TlsCertInfo }>,
  r: IssueRequest,
  run: Omit<OrderRun, "caFile"> = { program: orderProgram() },
): Promise<{ applied: "live" | "disk"; cert: TlsCertInfo; ms: Record<string, number> }> {
  const file = accountFile(dir, r.project);
  const saved = existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as { directory: string; url: string }) : undefined;
  const accountUrl = saved?.directory === r.directory ? saved.url : undefined;
  // A first status poll after 1 s, not acme-client's 5 s: a CA validates in about a second, and the renewal's next
  // rank orders L/12 after the first (the wait grows from there, so a slow CA is not hammered).
  const order = (url: string | undefined) => runOrder({ directory: r.directory, accountKey: r.accountKey, accountUrl: url, email: r.email, hosts: r.hosts, backoffMinMs: 1000 }, { ...run, caFile: r.caFile });
  let res = await order(accountUrl);
  // A kept URL the CA does not know for this key (a CA that lost its accounts, a new account key for the same
  // directory) would fail every order from now on: look the account up by its key instead, once.
  if (!res.ok && accountUrl && /account/i.test(res.error)) res = await order(undefined);
  if (!res.ok) throw new Error(`ACME order for ${r.hosts.join(", ")} failed: ${res.error}`);
  // The CA's answer is checked like any certificate before it is served (TlsStore checks key and names too).
  if (Date.parse(new X509Certificate(res.cert).validTo) <= Date.now()) throw new Error("the CA sent an expired certificate");
  const done = await set(r.id, r.hosts, res.cert, res.key);
  if (res.accountUrl !== accountUrl) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeAtomic(file, JSON.stringify({ directory: r.directory, url: res.accountUrl }), { mode: 0o600 });
  }
  return { ...done, ms: res.ms };
}
