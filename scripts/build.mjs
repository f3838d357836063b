// Bundles the CLI and the agent. The agent is one file with no node_modules, so
// `skiff setup` can copy it to a machine that has nothing but Node.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const { version } = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));

// Which skiff this is, for the CLI's cache of checked projects (src/config/project-cache.ts): the version and a hash
// of every source and the lockfile, so any change to how a config is checked or normalized misses the cache.
const sources = createHash("sha256");
for (const f of [...walk("src", ".ts"), ...(existsSync("package-lock.json") ? ["package-lock.json"] : [])].sort()) sources.update(`${f}\0${readFileSync(f, "utf8")}\0`);
const buildId = `${version}+${sources.digest("hex").slice(0, 16)}`;

const common = { bundle: true, platform: "node", sourcemap: false, logLevel: "warning", legalComments: "none" };

// zod's full API re-exports every language's messages (`z.locales`): ~360 KB the CLI would parse at every start
// for English it already has. Its locale index becomes English alone (nothing here asks for another language).
const englishOnly = {
  name: "zod-english-only",
  setup(b) {
    b.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) => (/[\\/]zod[\\/]v4[\\/](classic|core)[\\/]/.test(args.importer) ? { path: join(args.importer, "..", "..", "locales", "en.js"), namespace: "zod-en" } : undefined));
    b.onLoad({ filter: /.*/, namespace: "zod-en" }, (args) => ({ contents: `export { default as en } from ${JSON.stringify(args.path)};`, resolveDir: process.cwd() }));
  },
};

// Chunks are named by their hash: last build's would pile up.
rmSync("dist/chunks", { recursive: true, force: true });

await Promise.all([
  // esbuild stays a package (it has a native binary): the CLI loads it only to read skiff.config.ts.
  // Split: what only some commands need (age, for secrets) is a chunk of its own, parsed when imported.
  build({ ...common, entryPoints: { cli: "src/cli/main.ts", prewarm: "src/cli/prewarm.ts" }, outdir: "dist", splitting: true, chunkNames: "chunks/[name]-[hash]", format: "esm", target: "node20", external: ["esbuild"], plugins: [englishOnly],
    define: { __SKIFF_VERSION__: JSON.stringify(version), __SKIFF_BUILD__: JSON.stringify(buildId) },
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" } }),
  // Node 18 is what Debian 12 and Ubuntu 24.04 ship; the agent must run there.
  // Whitespace and syntax minified (names kept, for stack traces): the long-lived agent holds its source in memory,
  // and this file loaded is 1.1 MB less RSS than the plain bundle (measured: `skiff-agent version`, 12.0 → 10.9 MB anon).
  build({ ...common, entryPoints: ["src/agent/main.ts"], outfile: "dist/skiff-agent.cjs", format: "cjs", target: "node18", minifyWhitespace: true, minifySyntax: true, define: { __AGENT_VERSION__: JSON.stringify(version) } }),
  // One ACME order per run (tls: auto), spawned by the agent: acme-client never loads into the long-lived agent
  // (~30 MB RSS and 1-2 s to load; see src/agent/acme-child.ts).
  build({ ...common, entryPoints: ["src/agent/acme-entry.ts"], outfile: "dist/skiff-acme.cjs", format: "cjs", target: "node18" }),
  // `import { Skiff, defineConfig } from "skiff"`: the API, the run-time half (the types come from tsc below). The
  // package's dependencies stay imports (a consumer installs them with skiff); setup finds dist/skiff-agent.cjs beside it.
  build({ ...common, entryPoints: ["src/api.ts"], outfile: "dist/api.js", format: "esm", target: "node20", packages: "external" }),
  // `skiff dashboard`'s page: its script with uPlot, and its CSS with uPlot's, served from dist/dashboard/ by the
  // CLI (src/dashboard/serve.ts): nothing for the browser to fetch from the internet.
  build({ bundle: true, logLevel: "warning", legalComments: "none", minify: true, platform: "browser", format: "iife", target: ["chrome100", "firefox100", "safari15"], entryPoints: { app: "src/dashboard/page/main.ts" }, outdir: "dist/dashboard" }),
  build({ bundle: true, logLevel: "warning", legalComments: "none", minify: true, entryPoints: { app: "src/dashboard/page/style.css" }, outdir: "dist/dashboard" }),
]);
copyFileSync("src/dashboard/page/index.html", "dist/dashboard/index.html");

// Types of the API and skiff.config.ts (dist/types/api.d.ts and what it imports), with import paths a consumer resolves (.js → .d.ts).
const tsc = spawnSync(process.execPath, [fileURLToPath(new URL("../node_modules/typescript/bin/tsc", import.meta.url)), "-p", "tsconfig.types.json"], { stdio: "inherit" });
if (tsc.status !== 0) process.exit(tsc.status ?? 1);
for (const f of walk("dist/types", ".d.ts")) writeFileSync(f, readFileSync(f, "utf8").replace(/(from\s+["']\.{1,2}\/[^"']*)\.ts(["'])/g, "$1.js$2"));

function walk(dir, ending) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name), ending) : e.name.endsWith(ending) ? [join(dir, e.name)] : []));
}
