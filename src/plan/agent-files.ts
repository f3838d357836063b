// The files setup puts on a machine, rendered here as data so the planner can
// compare their hashes with what the machine has.
import { createHash } from "node:crypto";
import { AGENT_BIN, AGENT_FILE, AGENT_LOG, INIT_SCRIPT, LOG_DIR, RUN_DIR, STATE_DIR, SUPERVISOR_PID, SYSTEMD_UNIT } from "../contracts/paths.ts";

export interface RenderedFile {
  path: string;
  content: Buffer;
  mode: number;
  sha256: string;
  /** For plans and messages. */
  label: string;
}

export function rendered(path: string, content: string | Buffer, mode: number, label: string): RenderedFile {
  const buf = typeof content === "string" ? Buffer.from(content) : content;
  return { path, content: buf, mode, label, sha256: createHash("sha256").update(buf).digest("hex") };
}

export const agentBundle = (bundle: Buffer) => rendered(AGENT_FILE, bundle, 0o644, "agent");

export const agentWrapper = () =>
  rendered(
    AGENT_BIN,
    `#!/bin/sh
# Installed by skiff setup. Runs the agent with the machine's Node (>= 18).
for n in ${STATE_DIR}/node/bin/node node nodejs; do
  if command -v "$n" >/dev/null 2>&1; then exec "$n" ${AGENT_FILE} "$@"; fi
done
echo "skiff-agent: Node.js is not installed" >&2
exit 127
`,
    0o755,
    "agent command",
  );

export const systemdUnit = () =>
  rendered(
    SYSTEMD_UNIT,
    `# Installed by skiff setup.
[Unit]
Description=skiff agent
After=network-online.target docker.service
Wants=network-online.target

[Service]
ExecStart=${AGENT_BIN} serve
Restart=always
RestartSec=1
# Only the agent stops on restart: HAProxy, which it started, keeps serving.
KillMode=process

[Install]
WantedBy=multi-user.target
`,
    0o644,
    "systemd unit",
  );

/** For machines without systemd: a sysv-style script around `skiff-agent supervise`. */
export const initScript = () =>
  rendered(
    INIT_SCRIPT,
    `#!/bin/sh
### BEGIN INIT INFO
# Provides:          skiff-agent
# Required-Start:    $remote_fs $network
# Required-Stop:     $remote_fs $network
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: skiff agent
### END INIT INFO
# Installed by skiff setup.
PIDFILE=${SUPERVISOR_PID}
running() {
  [ -f "$PIDFILE" ] || return 1
  pid=$(cat "$PIDFILE" 2>/dev/null)
  [ -n "$pid" ] && grep -q supervise "/proc/$pid/cmdline" 2>/dev/null
}
case "$1" in
  start)
    running && exit 0
    mkdir -p ${RUN_DIR} ${LOG_DIR}
    chmod 700 ${RUN_DIR}
    setsid ${AGENT_BIN} supervise >>${AGENT_LOG} 2>&1 </dev/null &
    i=0
    while [ $i -lt 100 ]; do
      ${AGENT_BIN} call ping >/dev/null 2>&1 && exit 0
      sleep 0.1; i=$((i+1))
    done
    echo "skiff-agent did not start; see ${AGENT_LOG}" >&2
    exit 1 ;;
  stop)
    if running; then
      pid=$(cat "$PIDFILE"); kill "$pid"
      i=0; while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
    fi
    rm -f "$PIDFILE" ;;
  restart) "$0" stop; "$0" start ;;
  status) if running; then echo "skiff-agent is running"; else echo "skiff-agent is not running"; exit 3; fi ;;
  *) echo "usage: $0 start|stop|restart|status" >&2; exit 2 ;;
esac
`,
    0o755,
    "init script",
  );
