// The agent file that setup installs: dist/skiff-agent.cjs next to the bundled
// CLI or API (dist/cli.js, dist/api.js), or in dist/ of a checkout run from source.
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { UserError } from "../errors.ts";
import { dirname, join } from "node:path";
import { acmeBundle, agentBundle, type RenderedFile } from "../plan/agent-files.ts";

export function loadAgentBundle(file?: string): RenderedFile {
  const candidates = file ? [file] : [new URL("./skiff-agent.cjs", import.meta.url), new URL("../../dist/skiff-agent.cjs", import.meta.url)].map((u) => fileURLToPath(u)).filter((p) => p.endsWith("dist/skiff-agent.cjs"));
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new UserError(`the agent bundle ${file ?? "dist/skiff-agent.cjs"} is missing`, { hint: "run `npm run build` in the skiff checkout" });
  return agentBundle(readFileSync(found));
}

/** dist/skiff-acme.cjs beside the agent bundle (tls: auto orders); absent from an older build: not shipped. */
export function loadAcmeBundle(agentFile?: string): RenderedFile | undefined {
  const candidates = agentFile ? [join(dirname(agentFile), "skiff-acme.cjs")] : [new URL("./skiff-acme.cjs", import.meta.url), new URL("../../dist/skiff-acme.cjs", import.meta.url)].map((u) => fileURLToPath(u)).filter((p) => p.endsWith("dist/skiff-acme.cjs"));
  const found = candidates.find((p) => existsSync(p));
  return found ? acmeBundle(readFileSync(found)) : undefined;
}
