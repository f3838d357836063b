// What is wrong with a machine whose agent did not answer, in a few words for a
// table cell: the agent is down, ssh cannot reach the machine, its disk is full.
// Read from the error the agent channel gives (src/transport/agent-client.ts).
// (Moved here from src/cli so the API reports it too; the CLI re-exports it.)
import { UserError } from "../errors.ts";

/** The `│ `-quoted stderr lines an agent-channel error carries. */
const quotedLines = (message: string) => message.split("\n").filter((l) => l.startsWith("  │ ")).map((l) => l.slice(4).trim());

export function machineProblem(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const lines = quotedLines(message);
  const last = lines.at(-1) ?? message.split("\n")[0]!;
  const agentSocket = /cannot reach the agent at \S+: (\w+)/.exec(message)?.[1];
  if (agentSocket === "ECONNREFUSED") return "agent not running (its socket refuses connections: restarting, or stopped)";
  if (agentSocket === "ENOENT") return "agent not running (no agent socket: not started since boot, or not set up)";
  if (agentSocket) return `agent not answering (${agentSocket})`;
  if (/ENOSPC|No space left on device/.test(message)) return "disk full (free space on the machine)";
  if (/Node\.js is not installed|skiff-agent: (command )?not found|exit 127\b/.test(message)) return "agent not installed (run `skiff setup`)";
  if (/exit 255\b|ssh itself failed/.test(message)) return `unreachable (ssh: ${error instanceof UserError && error.hint ? error.hint : last})`;
  const refused = /agent refused \w+: (.*)/.exec(message)?.[1];
  if (refused) return `agent error: ${refused}`;
  return `no answer: ${last}`;
}
