// The agent's side of an ACME order: dist/skiff-acme.cjs (acme-child.ts) run
// as a child process with the request on stdin, its one JSON line read back.
// Memory goes back when it exits; a stuck order is killed after `timeoutMs`.
import { spawn } from "node:child_process";
import type { OrderRequest, OrderResult } from "./acme-child.ts";

export interface OrderRun {
  /** The order program: skiff-acme.cjs beside the agent's bundle. */
  program: string;
  /** Extra node arguments before it (tests run the source through tsx). */
  nodeArgs?: string[];
  /** A CA file to trust for the directory (a test CA such as pebble's); becomes NODE_EXTRA_CA_CERTS. */
  caFile?: string;
  timeoutMs?: number;
}

export function runOrder(req: OrderRequest, o: OrderRun): Promise<OrderResult> {
  return new Promise((resolve) => {
    // Only what node needs: the account key travels on stdin, and nothing of the agent's environment goes along.
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? "/usr/bin:/bin", ...(o.caFile ? { NODE_EXTRA_CA_CERTS: o.caFile } : {}) };
    const c = spawn(process.execPath, [...(o.nodeArgs ?? []), o.program], { env, stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    let err = "";
    const timer = setTimeout(() => c.kill("SIGKILL"), o.timeoutMs ?? 5 * 60_000);
    c.stdout.on("data", (b) => (out += b));
    c.stderr.on("data", (b) => (err = (err + b).slice(-2000)));
    c.on("error", (e) => (clearTimeout(timer), resolve({ ok: false, error: `cannot run the ACME order program ${o.program}: ${e.message}` })));
    c.on("close", (code, signal) => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(out.trim().split("\n").pop() ?? "") as OrderResult);
      } catch {
        resolve({ ok: false, error: signal === "SIGKILL" ? `the ACME order took longer than ${Math.round((o.timeoutMs ?? 300_000) / 1000)} s and was stopped` : `the ACME order program ended (${code ?? signal}) without a result${err ? `: ${err.trim().split("\n").pop()}` : ""}` });
      }
    });
    c.stdin.end(JSON.stringify(req));
  });
}
