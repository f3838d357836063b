// How the agent (root) runs system programs: by absolute path, with an environment of
// its own. Nothing an app controls (its env: PATH, LD_*; its working directory) may
// choose which program root runs or what that program loads.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname } from "node:path";
import { NODE_BIN } from "../contracts/paths.ts";

export const SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** A process app's PATH unless its env sets one: the machine's programs, then the agent's own Node runtime, so
 *  `run: node server.js` works on a machine without a nodejs package. */
export const APP_PATH = `${SYSTEM_PATH}:${dirname(NODE_BIN)}`;
/** The whole environment of what root runs for an instance. */
export const SYSTEM_ENV: Readonly<Record<string, string>> = { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" };

const found = new Map<string, string>();

/** The absolute path of a system program (from the system directories only, never /usr/local). */
export function systemBin(name: string): string {
  let path = found.get(name);
  if (!path) {
    path = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"].map((d) => `${d}/${name}`).find((p) => existsSync(p));
    if (!path) throw new Error(`${name} is not installed on this machine (looked in /usr/sbin, /usr/bin, /sbin and /bin)`);
    found.set(name, path);
  }
  return path;
}

export interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a system program (by name: see systemBin; or by absolute path) with the system environment and waits.
 * A failure to start, or a non-zero exit, throws `<what>: <why>` unless `allowFail`.
 */
export function runSystem(argv: readonly string[], what: string, opts: { cwd?: string; input?: Buffer; allowFail?: boolean } = {}): Ran {
  const bin = argv[0]!.startsWith("/") ? argv[0]! : systemBin(argv[0]!);
  const r = spawnSync(bin, argv.slice(1), { cwd: opts.cwd ?? "/", input: opts.input ?? Buffer.alloc(0), encoding: "utf8", env: SYSTEM_ENV });
  if (r.error) throw new Error(`${what}: ${r.error.message}`);
  const ran = { status: r.status, stdout: r.stdout, stderr: r.stderr };
  if (r.status !== 0 && !opts.allowFail) throw new Error(`${what}: ${r.stderr.trim() || `exit ${r.status ?? r.signal}`}`);
  return ran;
}
