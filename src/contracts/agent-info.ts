// What an agent says about itself (the `version` call): setup compares it with the bundle it ships.
// zod/mini (the config's schema library, in its tree-shaken form): the agent is one small file.
import * as z from "zod/mini";

export const agentInfoSchema = z.object({
  version: z.string(),
  /** sha256 of the running agent file: setup restarts an agent whose file changed. */
  sha256: z.string(),
  node: z.string(),
  pid: z.number(),
  startedAt: z.string(),
});

export type AgentInfo = z.infer<typeof agentInfoSchema>;
