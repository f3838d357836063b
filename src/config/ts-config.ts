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
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { PlacementFunction } from "../api.ts";
import { UserError, type Diagnostic } from "../errors.ts";

const requireHere = createRequire(import.meta.url);

/** How long running the config (or one placement call) may take. */
const DEFAULT_TIMEOUT_MS = 10_000;
const timeoutMs = () => {
  const v = Number(process.env.SKIFF_CONFIG_TS_TIMEOUT_MS);
  return Number.isFinite(v) && v > 0 ? v : DEFAULT_TIMEOUT_MS;
};

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

/** Runs the compiled config in a child with a deadline; a hang, an exit or a crash is an Error with plain words. */
function runConfig(compiled: string, request: object, what: string): Reply {
  const limit = timeoutMs();
  const r = spawnSync(process.execPath, ["--max-old-space-size=512", "-e", CHILD, compiled, JSON.stringify(request)], {
    stdio: ["ignore", 2, 2, "pipe"],
    timeout: limit,
    killSignal: "SIGKILL",
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  const out = (r.output?.[3] as string | null | undefined) ?? "";
  if (r.error && (r.error as NodeJS.ErrnoException).code === "ETIMEDOUT") throw new TsConfigError(`${what} did not finish within ${limit / 1000}s (an endless loop, or waiting for something?)`);
  if (r.error) throw new TsConfigError(`${what} could not be run: ${r.error.message}`);
  if (!out) throw new TsConfigError(`${what} ended the process (${r.signal ? `signal ${r.signal}` : `exit code ${r.status}`}) before it was done${r.status === 0 ? ": is there a process.exit() in it?" : ""}`);
  try {
    return JSON.parse(out) as Reply;
  } catch {
    throw new TsConfigError(`${what} gave an answer skiff cannot read`);
  }
}

class TsConfigError extends Error {}

/** Compiled configs already run in this process, by content: `validate` loads the config twice. */
const loaded = new Map<string, string>();

export function loadTsConfig(file: string, shown: string): { data: object; placers: Record<string, PlacementFunction> } {
  let esbuild: typeof import("esbuild");
  try {
    esbuild = requireHere("esbuild") as typeof import("esbuild");
  } catch {
    throw new UserError(`${shown}: reading a TypeScript config needs esbuild, which is missing from this skiff install`, { hint: "reinstall skiff (npm ci), or use skiff.yml" });
  }
  let code: string;
  try {
    const out = esbuild.buildSync({
      entryPoints: [file],
      bundle: true,
      write: false,
      format: "cjs",
      platform: "node",
      target: "node20",
      logLevel: "silent",
      // `skiff` stays an import, answered by the small package written next to the compiled file.
      external: ["skiff"],
    });
    code = out.outputFiles[0]!.text;
  } catch (e) {
    const errors = (e as { errors?: { text: string; location?: { line: number; column: number } }[] }).errors ?? [];
    throw new UserError(`${shown}: cannot compile it`, {
      exitCode: 2,
      diagnostics: errors.length ? errors.map((x) => ({ file: shown, line: x.location?.line ?? 0, col: (x.location?.column ?? -1) + 1, message: x.text })) : [{ file: shown, line: 0, col: 0, message: (e as Error).message }],
    });
  }
  const cacheDir = join(dirname(file), ".skiff");
  const stub = join(cacheDir, "node_modules", "skiff");
  mkdirSync(stub, { recursive: true });
  writeFileSync(join(stub, "package.json"), '{ "name": "skiff", "main": "index.js" }\n');
  writeFileSync(join(stub, "index.js"), "exports.defineConfig = (c) => c;\n");
  // The compiled config and the stub are build output, not for git (known_hosts next to them is).
  if (!existsSync(join(cacheDir, ".gitignore"))) writeFileSync(join(cacheDir, ".gitignore"), "node_modules/\nconfig-*.cjs\n");
  const out = join(cacheDir, `config-${createHash("sha256").update(code).digest("hex").slice(0, 16)}.cjs`);
  writeFileSync(out, code);

  let text = loaded.get(out);
  if (text === undefined) {
    let reply: Reply;
    try {
      reply = runConfig(out, { op: "load" }, shown);
    } catch (e) {
      if (e instanceof TsConfigError) throw new UserError(e.message, { exitCode: 2, hint: "skiff.config.ts must `export default defineConfig({...})` and finish quickly, without side effects" });
      throw e;
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
      throw new Error((e as Error).message);
    }
    if (reply.error !== undefined) throw new Error(reply.error);
    return reply.result as Record<string, number>;
  };
}
