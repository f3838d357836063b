// skiff.config.ts: bundled with esbuild (its `skiff` import answered by a tiny
// package written into .skiff/node_modules, so the project needs nothing
// installed), written as CommonJS into .skiff/ and required — synchronously, like reading skiff.yml. Functions
// (custom placement) are taken out before the object goes through the same
// schema and rules as skiff.yml.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { PlacementFunction } from "../api.ts";
import { UserError } from "../errors.ts";

const requireHere = createRequire(import.meta.url);

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
  let exported: unknown;
  try {
    const mod = requireHere(out) as { default?: unknown };
    exported = mod.default ?? mod;
    if (typeof exported === "function") exported = (exported as () => unknown)();
  } catch (e) {
    throw new UserError(`${shown}: running it failed: ${(e as Error).message}`, { hint: "skiff.config.ts must `export default defineConfig({...})`" });
  }
  if (!exported || typeof exported !== "object" || Array.isArray(exported)) {
    throw new UserError(`${shown}: the default export is not a config object`, { exitCode: 2, hint: "export default defineConfig({ project: …, machines: …, apps: … })" });
  }
  const data = exported as { apps?: Record<string, Record<string, unknown>> };
  const placers: Record<string, PlacementFunction> = {};
  for (const [name, app] of Object.entries(data.apps ?? {})) {
    if (app && typeof app === "object" && "place" in app) {
      if (typeof app.place !== "function") throw new UserError(`${shown}: apps.${name}.place must be a function`, { exitCode: 2 });
      placers[name] = app.place as PlacementFunction;
      delete app.place;
    }
  }
  return { data, placers };
}
