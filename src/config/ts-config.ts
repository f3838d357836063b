// skiff.config.ts: bundled with esbuild (its `skiff` import answered by a tiny
// package written into .skiff/node_modules, so the project needs nothing
// installed), written as CommonJS into .skiff/, and run in a child process —
// never in skiff's own. The config is code: a throwing getter, an endless loop
// or a `process.exit(0)` in it must become a clear error, not a stack trace, a
// hang, or a silent "ok" from `skiff validate`. A child with a deadline gives
// all three (a worker thread would not survive `process.kill` or a blocked
// event loop as cleanly), and it stays synchronous, like reading skiff.yml.
//
// The child walks the exported object into plain data (reading every getter
// once, refusing what is not data) and sends it back as JSON. Custom placement
// functions stay in the config: each call runs the config again in a child with
// the same deadline and returns the function's answer as data, which placement
// then checks like any strategy's.
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { PlacementFunction } from "./placement.ts";
import { UserError, type Diagnostic } from "../errors.ts";
import { hostSettings } from "../settings.ts";

const requireHere = createRequire(import.meta.url);

/** How long compiling or running the config (or one placement call) may take. */
const DEFAULT_TIMEOUT_MS = 10_000;
const TIMEOUT_HINT = `or, if it really needs longer, set SKIFF_CONFIG_TS_TIMEOUT_MS (milliseconds; default ${DEFAULT_TIMEOUT_MS})`;
function timeoutMs(): number {
  const given = hostSettings().configTsTimeoutMs;
  if (given === undefined || given === "") return DEFAULT_TIMEOUT_MS;
  const raw = String(given);
  // A typo must not quietly become the default: the user asked for a deadline.
  if (!/^\d{1,8}$/.test(raw) || Number(raw) < 1) throw new UserError(`SKIFF_CONFIG_TS_TIMEOUT_MS=${raw} is not a number of milliseconds`, { exitCode: 2, hint: `a whole number from 1 to 99999999, e.g. 30000; unset it for the default (${DEFAULT_TIMEOUT_MS})` });
  return Number(raw);
}

type Reply = { data?: object; placers?: string[]; problems?: { path: (string | number)[]; message: string }[]; result?: unknown; error?: string };

// Runs in the child: `node -e CHILD <compiled.cjs> <request json>`. Replies on fd 3, so the config's own
// console output (sent to our stderr) cannot be mistaken for the answer.
const CHILD = String.raw`
const fs = require("fs");
const [file, request] = process.argv.slice(1);
const req = JSON.parse(request);
const reply = (x) => fs.writeSync(3, JSON.stringify(x));
const MAX_DEPTH = 32;
function toData(v, path, problems, seen) {
  const here = path.join(".") || "the default export";
  if (v === null || typeof v === "string" || typeof v === "boolean" || v === undefined) return v;
  if (typeof v === "number") {
    if (Number.isFinite(v)) return v;
    problems.push({ path, message: here + ": " + v + " is not a finite number" });
    return null;
  }
  if (typeof v === "function") {
    if (path.length === 3 && path[0] === "apps" && path[2] === "place") return { __skiffPlace: true };
    problems.push({ path, message: here + ": a function cannot be here" });
    return null;
  }
  if (typeof v !== "object") {
    problems.push({ path, message: here + ": a " + typeof v + " cannot be here" });
    return null;
  }
  if (path.length >= MAX_DEPTH) {
    problems.push({ path, message: here + ": nested more than " + MAX_DEPTH + " levels deep" });
    return null;
  }
  if (seen.has(v)) {
    problems.push({ path, message: here + ": refers to itself" });
    return null;
  }
  const proto = Object.getPrototypeOf(v);
  if (!Array.isArray(v) && proto !== Object.prototype && proto !== null) {
    problems.push({ path, message: here + ": a " + ((proto.constructor && proto.constructor.name) || "class") + " object cannot be here (only plain data)" });
    return null;
  }
  seen.add(v);
  const out = Array.isArray(v) ? [] : {};
  for (const k of Object.keys(v)) {
    const at = path.concat(Array.isArray(v) ? Number(k) : k);
    let x;
    try {
      x = v[k];
    } catch (e) {
      problems.push({ path: at, message: at.join(".") + ": reading it threw: " + describe(e) });
      continue;
    }
    const d = toData(x, at, problems, seen);
    if (Array.isArray(out)) out.push(d === undefined ? null : d);
    else if (d !== undefined) Object.defineProperty(out, k, { value: d, enumerable: true, writable: true, configurable: true });
  }
  seen.delete(v);
  return out;
}
function describe(e) {
  try {
    return e instanceof Error ? e.name + ": " + e.message : String(e);
  } catch {
    return "(an error that cannot be shown)";
  }
}
try {
  const mod = require(file);
  let exported = mod.default ?? mod;
  if (typeof exported === "function") exported = exported();
  if (req.op === "load") {
    if (!exported || typeof exported !== "object" || Array.isArray(exported)) reply({ error: "NOT_A_CONFIG" });
    else {
      const problems = [];
      const data = toData(exported, [], problems, new Set());
      const placers = Object.keys((data && data.apps) || {}).filter((a) => data.apps[a] && data.apps[a].place && data.apps[a].place.__skiffPlace);
      for (const a of placers) delete data.apps[a].place;
      reply(problems.length ? { problems } : { data, placers });
    }
  } else {
    const result = exported.apps[req.app].place(req.ctx);
    const problems = [];
    const data = toData(result, [], problems, new Set());
    reply(problems.length ? { error: problems.map((p) => p.message).join("; ") } : { result: data === undefined ? null : data });
  }
} catch (e) {
  reply({ error: describe(e) });
}
`;

// Runs in another child: `node -e BUILD <esbuild> <skiff.config.ts>`. esbuild reads every import itself and
// has no deadline, so a config that imports a FIFO would hang skiff: a non-regular file is refused before
// esbuild opens it, and the child has the same deadline as the config's run.
const BUILD = String.raw`
const fs = require("fs");
const [esbuildPath, entry] = process.argv.slice(1);
const esbuild = require(esbuildPath);
const reply = (x) => fs.writeSync(3, JSON.stringify(x));
const regularOnly = {
  name: "regular-files-only",
  setup(build) {
    build.onLoad({ filter: /.*/ }, (args) => {
      if (args.namespace !== "file" || fs.statSync(args.path).isFile()) return undefined;
      return { errors: [{ text: args.path + " is not a regular file (a FIFO, device or socket): a config can import only files" }] };
    });
  },
};
esbuild
  .build({ entryPoints: [entry], bundle: true, write: false, format: "cjs", platform: "node", target: "node20", logLevel: "silent", external: ["skiff"], plugins: [regularOnly] })
  .then((out) => reply({ code: out.outputFiles[0].text }), (e) => reply({ errors: (e.errors || []).map((x) => ({ text: x.text, location: x.location && { line: x.location.line, column: x.location.column } })), message: String(e && e.message) }))
  .finally(() => process.exit(0));
`;

/** A node child with a deadline that answers on fd 3; a hang, an exit or a crash is a TsConfigError with plain words. */
function runChild(script: string, args: string[], what: string): string {
  const limit = timeoutMs();
  const r = spawnSync(process.execPath, ["--max-old-space-size=512", "-e", script, ...args], {
    stdio: ["ignore", 2, 2, "pipe"],
    timeout: limit,
    killSignal: "SIGKILL",
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  const out = (r.output?.[3] as string | null | undefined) ?? "";
  if (r.error && (r.error as NodeJS.ErrnoException).code === "ETIMEDOUT") throw new TsConfigError(`${what} did not finish within ${limit / 1000}s (an endless loop, or waiting for something?)`, TIMEOUT_HINT);
  if (r.error) throw new TsConfigError(`${what} could not be run: ${r.error.message}`);
  if (!out) throw new TsConfigError(`${what} ended the process (${r.signal ? `signal ${r.signal}` : `exit code ${r.status}`}) before it was done${r.status === 0 ? ": is there a process.exit() in it?" : ""}`);
  return out;
}

/** Runs the compiled config in a child with a deadline. */
function runConfig(compiled: string, request: object, what: string): Reply {
  const out = runChild(CHILD, [compiled, JSON.stringify(request)], what);
  try {
    return JSON.parse(out) as Reply;
  } catch {
    throw new TsConfigError(`${what} gave an answer skiff cannot read`);
  }
}

/**
 * Writes a file in .skiff/ only when its content differs, as a whole: a temp file renamed over it, so
 * another skiff command in the same project (status during a deploy) never requires a half-written one.
 */
function writeIfChanged(file: string, content: string): void {
  try {
    if (readFileSync(file, "utf8") === content) return;
  } catch {
    // missing (or unreadable): write it
  }
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  writeFileSync(tmp, content);
  renameSync(tmp, file);
}

class TsConfigError extends Error {
  constructor(message: string, readonly hint?: string) {
    super(message);
  }
}

/** Compiled configs already run in this process, by content: `validate` loads the config twice. */
const loaded = new Map<string, string>();

export function loadTsConfig(file: string, shown: string): { data: object; placers: Record<string, PlacementFunction> } {
  let esbuildPath: string;
  try {
    esbuildPath = requireHere.resolve("esbuild");
  } catch {
    throw new UserError(`${shown}: reading a TypeScript config needs esbuild, which is missing from this skiff install`, { hint: "reinstall skiff (npm ci), or use skiff.yml" });
  }
  const asUserError = (e: unknown, hint: string) => (e instanceof TsConfigError ? new UserError(e.message, { exitCode: 2, hint: e.hint ? `${hint}; ${e.hint}` : hint }) : e);
  let built: { code?: string; errors?: { text: string; location?: { line: number; column: number } }[]; message?: string };
  try {
    built = JSON.parse(runChild(BUILD, [esbuildPath, file], `${shown}: compiling it`));
  } catch (e) {
    throw asUserError(e, "a config imports only regular files and compiles quickly");
  }
  if (built.code === undefined) {
    const errors = built.errors ?? [];
    throw new UserError(`${shown}: cannot compile it`, {
      exitCode: 2,
      diagnostics: errors.length ? errors.map((x) => ({ file: shown, line: x.location?.line ?? 0, col: (x.location?.column ?? -1) + 1, message: x.text })) : [{ file: shown, line: 0, col: 0, message: built.message ?? "esbuild failed" }],
    });
  }
  const code = built.code;
  const cacheDir = join(dirname(file), ".skiff");
  const stub = join(cacheDir, "node_modules", "skiff");
  mkdirSync(stub, { recursive: true });
  writeIfChanged(join(stub, "package.json"), '{ "name": "skiff", "main": "index.js" }\n');
  writeIfChanged(join(stub, "index.js"), "exports.defineConfig = (c) => c;\n");
  // The compiled config and the stub are build output, not for git (known_hosts next to them is).
  if (!existsSync(join(cacheDir, ".gitignore"))) writeIfChanged(join(cacheDir, ".gitignore"), "node_modules/\nconfig-*.cjs\n");
  const out = join(cacheDir, `config-${createHash("sha256").update(code).digest("hex").slice(0, 16)}.cjs`);
  writeIfChanged(out, code);

  let text = loaded.get(out);
  if (text === undefined) {
    let reply: Reply;
    try {
      reply = runConfig(out, { op: "load" }, shown);
    } catch (e) {
      throw asUserError(e, "skiff.config.ts must `export default defineConfig({...})` and finish quickly, without side effects");
    }
    if (reply.error === "NOT_A_CONFIG") throw new UserError(`${shown}: the default export is not a config object`, { exitCode: 2, hint: "export default defineConfig({ project: …, machines: …, apps: … })" });
    if (reply.error !== undefined) throw new UserError(`${shown}: running it failed: ${reply.error}`, { exitCode: 2, hint: "skiff.config.ts must `export default defineConfig({...})`" });
    if (reply.problems?.length) {
      const diagnostics: Diagnostic[] = reply.problems.map((p) => ({ file: shown, line: 0, col: 0, message: p.message }));
      throw new UserError(`${shown}: ${diagnostics.length} problem${diagnostics.length === 1 ? "" : "s"}`, { exitCode: 2, diagnostics });
    }
    text = JSON.stringify({ data: reply.data, placers: reply.placers ?? [] });
    loaded.set(out, text);
  }
  const { data, placers } = JSON.parse(text) as { data: object; placers: string[] };
  return { data, placers: Object.fromEntries(placers.map((app) => [app, placer(out, app, shown)])) };
}

/** A custom placement function, called in a child like the config itself; its answer is data for checkPlacement. */
function placer(compiled: string, app: string, shown: string): PlacementFunction {
  return (ctx) => {
    let reply: Reply;
    try {
      reply = runConfig(compiled, { op: "place", app, ctx }, `${shown}: apps.${app}.place`);
    } catch (e) {
      if (e instanceof TsConfigError) throw new Error(e.hint ? `${e.message}; ${e.hint}` : e.message);
      throw e; // a UserError (a bad SKIFF_CONFIG_TS_TIMEOUT_MS) stays one
    }
    if (reply.error !== undefined) throw new Error(reply.error);
    return reply.result as Record<string, number>;
  };
}
