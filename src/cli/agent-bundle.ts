// The agent file that setup installs: dist/skiff-agent.cjs next to the bundled CLI.
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { UserError } from "../errors.ts";
import { agentBundle, type RenderedFile } from "../plan/agent-files.ts";

export function loadAgentBundle(): RenderedFile {
  const candidates = [new URL("./skiff-agent.cjs", import.meta.url), new URL("../../dist/skiff-agent.cjs", import.meta.url)].map((u) => fileURLToPath(u));
  const found = candidates.find((p) => p.endsWith("dist/skiff-agent.cjs") && existsSync(p));
  if (!found) throw new UserError("the agent bundle dist/skiff-agent.cjs is missing", { hint: "run `npm run build` in the skiff checkout" });
  return agentBundle(readFileSync(found));
}
