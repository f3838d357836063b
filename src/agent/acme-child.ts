// One ACME order, run as its own short-lived process (dist/skiff-acme.cjs),
// never inside the agent: acme-client and its dependencies cost ~30 MB RSS and
// 1-2 s to load (memo §2), and an order runs a few times per 60 days. The agent
// writes the request as JSON on stdin (account key included: never in argv),
// and reads one JSON line on stdout: the chain and the new key, or the error.
// HTTP-01 is answered by every machine's HAProxy (stateless: token.thumbprint),
// so there is nothing to set up or tear down per challenge. A test directory's
// CA is trusted through NODE_EXTRA_CA_CERTS, which the agent sets.
import acme from "acme-client";
import { get } from "node:https";

export interface OrderRequest {
  directory: string;
  /** PKCS#8 PEM of the project's account key. */
  accountKey: string;
  /** Known from an earlier order: skips the account lookup. */
  accountUrl?: string;
  email?: string;
  hosts: string[];
  /** acme-client's first wait between status polls (default 5000 ms); tests pass less. */
  backoffMinMs?: number;
}

export type OrderResult = { ok: true; cert: string; key: string; accountUrl: string; ms: Record<string, number> } | { ok: false; error: string };

/** acme-client 5.4 with pebble 2.4 (and RFC 8555 servers generally): createAccount() for a key that has an account
 *  already sends an empty update, which pebble refuses; so the account is looked up first (POST-as-GET) and only
 *  made when there is none (memo §2). */
async function accountClient(r: OrderRequest): Promise<acme.Client> {
  const opts = { directoryUrl: r.directory, accountKey: r.accountKey, backoffMin: r.backoffMinMs ?? 5000 };
  if (r.accountUrl) return new acme.Client({ ...opts, accountUrl: r.accountUrl });
  const client = new acme.Client(opts);
  try {
    await client.createAccount({ onlyReturnExisting: true });
  } catch (e) {
    if (!/accountDoesNotExist|unable to find existing account/i.test((e as Error).message)) throw e;
    await client.createAccount({ termsOfServiceAgreed: true, ...(r.email ? { contact: [`mailto:${r.email}`] } : {}) });
  }
  return client;
}

/** One plain GET of the directory first: acme-client retries a TLS failure 5 times over more than a minute and
 *  then loses its cause (memo §2); this says at once that the directory's certificate is not trusted. */
function preflight(url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const q = get(url, { timeout: 10_000 }, (res) => {
      res.resume();
      resolve();
    });
    q.on("timeout", () => q.destroy(new Error(`the ACME directory ${url} did not answer in 10 s`)));
    q.on("error", (e: NodeJS.ErrnoException) => reject(/CERT|SELF_SIGNED|UNABLE_TO_VERIFY/.test(e.code ?? "") ? new Error(`the ACME directory ${url} is not trusted (${e.code})`) : e));
  });
}

export async function order(r: OrderRequest): Promise<OrderResult> {
  await preflight(r.directory);
  const ms: Record<string, number> = {};
  let t = performance.now();
  const lap = (k: string) => {
    const n = performance.now();
    ms[k] = Math.round(n - t);
    t = n;
  };
  const client = await accountClient(r);
  lap("account");
  const [key, csr] = await acme.crypto.createCsr({ altNames: r.hosts }, await acme.crypto.createPrivateEcdsaKey("P-256"));
  lap("csr");
  const o = await client.createOrder({ identifiers: r.hosts.map((value) => ({ type: "dns", value })) });
  for (const authz of await client.getAuthorizations(o)) {
    if (authz.status === "valid") continue;
    const ch = authz.challenges.find((c) => c.type === "http-01");
    if (!ch) throw new Error(`the CA offers no http-01 challenge for ${authz.identifier.value}`);
    await client.completeChallenge(ch);
    await client.waitForValidStatus(ch);
  }
  lap("challenge");
  const done = await client.finalizeOrder(o, csr);
  const cert = await client.getCertificate(done);
  lap("certificate");
  return { ok: true, cert, key: key.toString(), accountUrl: client.getAccountUrl(), ms };
}

/** What a failure says: acme-client loses a TLS cause after its retries (memo §2), so name the likely one. */
function why(e: unknown): string {
  const m = (e as Error)?.message ?? String(e);
  return !m.startsWith("the ACME directory") && /UNABLE_TO_VERIFY|self.signed|reading 'config'/i.test(m) ? `the ACME directory is not trusted (${m})` : m;
}

export async function main(): Promise<void> {
  let input = "";
  for await (const chunk of process.stdin) input += chunk;
  let out: OrderResult;
  try {
    out = await order(JSON.parse(input) as OrderRequest);
  } catch (e) {
    out = { ok: false, error: why(e) };
  }
  process.stdout.write(JSON.stringify(out) + "\n");
}
