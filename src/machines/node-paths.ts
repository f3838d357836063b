// Where setup puts the agent's own Node runtime on a machine. The agent command
// (src/plan/agent-files.ts) looks there first.
import { STATE_DIR } from "../contracts/paths.ts";

export const NODE_DIR = `${STATE_DIR}/node`;
export const NODE_BIN = `${NODE_DIR}/bin/node`;
/** The runtime's sha256, written once the shipped file was checked: probes read this instead of hashing 100 MB. */
export const NODE_SHA = `${NODE_DIR}/sha256`;
