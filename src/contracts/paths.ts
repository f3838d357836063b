// Where the agent lives on a machine. The CLI's setup planner uses the same names.
export const STATE_DIR = "/var/lib/skiff";
export const AGENT_DIR = `${STATE_DIR}/agent`;
export const AGENT_FILE = `${AGENT_DIR}/skiff-agent.cjs`;
/** The ACME order program (tls: auto) the agent runs beside itself, one process per order. */
export const ACME_FILE = `${AGENT_DIR}/skiff-acme.cjs`;
export const AGENT_BIN = "/usr/local/bin/skiff-agent";
export const RUN_DIR = "/run/skiff";
export const SOCKET = `${RUN_DIR}/agent.sock`;
export const SUPERVISOR_PID = `${RUN_DIR}/agent-supervisor.pid`;
export const LOG_DIR = "/var/log/skiff";
export const AGENT_LOG = `${LOG_DIR}/agent.log`;
export const SYSTEMD_UNIT = "/etc/systemd/system/skiff-agent.service";
export const INIT_SCRIPT = "/etc/init.d/skiff-agent";
/** The agent's own Node runtime, where setup puts it; the agent command looks there first, process apps find it last on PATH. */
export const NODE_DIR = `${STATE_DIR}/node`;
export const NODE_BIN = `${NODE_DIR}/bin/node`;
/** The runtime's sha256, written once the shipped file was checked: probes read this instead of hashing 100 MB. */
export const NODE_SHA = `${NODE_DIR}/sha256`;
