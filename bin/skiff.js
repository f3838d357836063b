#!/usr/bin/env node
// Thin launcher: the CLI is bundled into dist/ by `npm run build` (run by `npm ci` through `prepare`).
import { existsSync } from "node:fs";
const entry = new URL("../dist/cli.js", import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write("skiff: dist/cli.js is missing; run `npm run build` (or `npm ci`) in the skiff checkout first\n");
  process.exit(1);
}
await import(entry.href);
