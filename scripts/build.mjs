// Bundles the CLI and the agent. The agent is one file with no node_modules, so
// `skiff setup` can copy it to a machine that has nothing but Node.
import { readFileSync } from "node:fs";
import { build } from "esbuild";

const { version } = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));

const common = { bundle: true, platform: "node", sourcemap: false, logLevel: "warning", legalComments: "none" };

await Promise.all([
  build({ ...common, entryPoints: ["src/cli/main.ts"], outfile: "dist/cli.js", format: "esm", target: "node20",
    define: { __SKIFF_VERSION__: JSON.stringify(version) },
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" } }),
  // Node 18 is what Debian 12 and Ubuntu 24.04 ship; the agent must run there.
  build({ ...common, entryPoints: ["src/agent/main.ts"], outfile: "dist/skiff-agent.cjs", format: "cjs", target: "node18", define: { __AGENT_VERSION__: JSON.stringify(version) } }),
]);
