#!/usr/bin/env node
// Thin launcher: the CLI is bundled into dist/ by `npm run build` (run by `npm ci` through `prepare`).
import { existsSync } from "node:fs";
import module from "node:module";
import { homedir } from "node:os";
import { join } from "node:path";
const entry = new URL("../dist/cli.js", import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write("skiff: dist/cli.js is missing; run `npm run build` (or `npm ci`) in the skiff checkout first\n");
  process.exit(1);
}
// Node ≥ 22.1 keeps V8's compiled code of the bundle between runs (a CLI that starts for every command parses
// ~1 MB each time). In the user's own cache directory, not a shared /tmp one. Node 20 has no such call.
try {
  module.enableCompileCache?.(join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "skiff", "node-compile-cache"));
} catch {}
// A command that talks to the machines starts the ssh connections its project used last time while the CLI loads
// (src/cli/prewarm.ts: a few small modules, parsed before the CLI's ~1 MB).
try {
  (await import(new URL("../dist/prewarm.js", import.meta.url).href)).prewarm(process.argv.slice(2));
} catch {}
await import(entry.href);
