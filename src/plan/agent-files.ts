// The files setup puts on a machine, rendered here as data so the planner can
// compare their hashes with what the machine has.
import { createHash } from "node:crypto";
import { ACME_FILE, AGENT_BIN, AGENT_FILE, AGENT_LOG, INIT_SCRIPT, LOG_DIR, NODE_BIN, RUN_DIR, SUPERVISOR_PID, SYSTEMD_UNIT } from "../contracts/paths.ts";

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

/** The ACME order program (tls: auto), beside the agent: the agent spawns it per order (agent/acme-run.ts). */
export const acmeBundle = (bundle: Buffer) => rendered(ACME_FILE, bundle, 0o644, "ACME order program");

export const agentWrapper = () =>
  rendered(
    AGENT_BIN,
    `#!/bin/sh
# Installed by skiff setup. Runs the agent with the machine's Node (>= 18).
# V8 flags for the long-lived agent's footprint (bench/footprint-flags measures
# them; on the bed, Node 20, 2 apps with 4 instances: 56.4 -> 47.7 MB RSS, the
# deploy no slower): no JIT, a small young generation; no WebAssembly, which
# the agent never uses (--jitless warns unless it is off). The short commands
# start without.
NODE_FLAGS="--max-semi-space-size=1 --jitless --no-expose-wasm"
[ "$1" = serve ] || NODE_FLAGS=
for n in ${NODE_BIN} node nodejs; do
  if command -v "$n" >/dev/null 2>&1; then exec "$n" $NODE_FLAGS ${AGENT_FILE} "$@"; fi
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
# Never give up restarting (the default stops after 5 starts in 10 s), like the init script's loop.
StartLimitIntervalSec=0

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

/**
 * For machines without systemd: a sysv-style script whose `run` is the agent's
 * supervisor, a shell loop (about 1 MB, where a second Node process cost 50):
 * it restarts `skiff-agent serve` with backoff (1 s doubling to 30 s, back to
 * 1 s after a minute up). TERM to the loop stops the agent too; HAProxy and
 * the instances, in other process groups, keep running.
 */
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
AGENT_PIDFILE=${RUN_DIR}/agent.pid
# A pid counts only while it is still ours (pids are reused).
ours() { [ -n "$1" ] && grep -q skiff-agent "/proc/$1/cmdline" 2>/dev/null; }
running() { [ -f "$PIDFILE" ] && ours "$(cat "$PIDFILE" 2>/dev/null)"; }
# Waits up to 5 s for pid $1 to exit, then kills it.
reap() {
  i=0; while kill -0 "$1" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
  kill -KILL "$1" 2>/dev/null || true
}
log() { echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) skiff-agent supervisor[$$] $*"; }
supervise() {
  cd /
  echo $$ >"$PIDFILE"
  stopping=; child=; nap=
  # A trapped signal interrupts "wait" (not a foreground command), so the agent and the backoff sleep run in the background.
  trap 'stopping=1; kill $child $nap 2>/dev/null' TERM INT
  delay=1
  while [ -z "$stopping" ]; do
    began=$(date +%s)
    ${AGENT_BIN} serve </dev/null &
    child=$!
    [ -n "$stopping" ] && kill $child 2>/dev/null
    wait $child; code=$?
    [ -n "$stopping" ] && break
    child=
    [ $(($(date +%s) - began)) -ge 60 ] && delay=1
    log "agent exited ($code); restarting in $delay s"
    sleep $delay & nap=$!
    wait $nap; nap=
    delay=$((delay * 2)); [ $delay -gt 30 ] && delay=30
  done
  # Never leave an agent behind: a second one would supervise the same instances.
  reap $child
  rm -f "$PIDFILE"
  log "stopped"
}
case "$1" in
  start)
    running && exit 0
    mkdir -p ${RUN_DIR} ${LOG_DIR}
    chmod 700 ${RUN_DIR}
    setsid /bin/sh ${INIT_SCRIPT} supervise >>${AGENT_LOG} 2>&1 </dev/null &
    i=0
    while [ $i -lt 100 ]; do
      ${AGENT_BIN} call ping >/dev/null 2>&1 && exit 0
      sleep 0.1; i=$((i+1))
    done
    echo "skiff-agent did not start; see ${AGENT_LOG}" >&2
    exit 1 ;;
  supervise) supervise ;;
  stop)
    # The loop stops its agent; an agent whose loop was killed is stopped here.
    if running; then
      pid=$(cat "$PIDFILE"); kill "$pid"
      i=0; while kill -0 "$pid" 2>/dev/null && [ $i -lt 70 ]; do sleep 0.1; i=$((i+1)); done
    fi
    rm -f "$PIDFILE"
    pid=$(cat "$AGENT_PIDFILE" 2>/dev/null)
    if ours "$pid"; then kill "$pid"; reap "$pid"; fi ;;
  restart) "$0" stop; "$0" start ;;
  status) if running; then echo "skiff-agent is running"; else echo "skiff-agent is not running"; exit 3; fi ;;
  *) echo "usage: $0 start|stop|restart|status" >&2; exit 2 ;;
esac
`,
    0o755,
    "init script",
  );
