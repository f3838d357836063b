// The CLI bundled from the current source (as scripts/build.mjs does), for tests
// that run it as a user would without depending on a possibly stale dist/.
// Written under node_modules/.cache so its `esbuild` import resolves like dist/'s.
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { buildSync } from "esbuild";

const ROOT = new URL("../..", import.meta.url).pathname;
let bundled: string | undefined;

export function cliPath(): string {
  if (bundled) return bundled;
  const dir = join(ROOT, "node_modules", ".cache", `skiff-test-cli-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  const out = join(dir, "cli.mjs");
  buildSync({
    bundle: true, platform: "node", logLevel: "warning", entryPoints: [join(ROOT, "src/cli/main.ts")], outfile: out, format: "esm", target: "node20", external: ["esbuild"],
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  });
  return (bundled = out);
}

/**
 * Runs `skiff ...args`; a hang is cut at `timeoutMs` (and shows as signal SIGKILL). The environment is
 * this process's plus `env`, or only `env` with `inheritEnv: false`; `input` is its stdin.
 * SKIFF_TEST_BIN runs another build instead (e.g. of an older commit, to see a test fail there).
 */
export function skiff(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; inheritEnv?: boolean; input?: string; timeoutMs?: number } = {}): SpawnSyncReturns<string> {
  const env = opts.inheritEnv === false ? { ...opts.env } : { ...process.env, ...opts.env };
  return spawnSync(process.execPath, [process.env.SKIFF_TEST_BIN ?? cliPath(), ...args], { cwd: opts.cwd, env, input: opts.input ?? "", encoding: "utf8", timeout: opts.timeoutMs ?? 20_000, killSignal: "SIGKILL" });
}

/** Stack-trace lines ("    at f (file:1:2)") in an output. */
export const stackLines = (s: string) => s.split("\n").filter((l) => /^\s+at /.test(l));
