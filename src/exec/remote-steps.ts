// Command builders for setup: each returns a script or argv and never runs it,
// so every remote step can be read and tested as data.
import { AGENT_BIN, AGENT_DIR, INIT_SCRIPT, LOG_DIR, RUN_DIR, STATE_DIR, SYSTEMD_UNIT } from "../contracts/paths.ts";
import type { RenderedFile } from "../plan/agent-files.ts";

export interface RemoteCommand {
  argv: string[];
  stdin?: Buffer | string;
  timeoutMs?: number;
}

const sh = (script: string, ...args: string[]): string[] => ["sh", "-c", script, "sh", ...args];

export function installPackages(packages: string[]): RemoteCommand {
  return {
    argv: sh('set -e; export DEBIAN_FRONTEND=noninteractive; apt-get update -qq; apt-get install -y -qq --no-install-recommends "$@" >/dev/null', ...packages),
    timeoutMs: 15 * 60_000,
  };
}

export function startDocker(systemd: boolean): RemoteCommand {
  const start = systemd ? "systemctl enable --now docker" : "if [ -x /etc/init.d/docker ]; then /etc/init.d/docker start; else (setsid dockerd >/var/log/dockerd.log 2>&1 </dev/null &); fi";
  return { argv: sh(`set -e; ${start}; i=0; until docker version >/dev/null 2>&1; do i=$((i+1)); [ $i -lt 100 ] || { echo 'dockerd did not answer within 20 s' >&2; exit 1; }; sleep 0.2; done`), timeoutMs: 60_000 };
}

export function createDirs(): RemoteCommand {
  return { argv: sh(`set -e; mkdir -p ${STATE_DIR} ${AGENT_DIR} ${STATE_DIR}/releases ${LOG_DIR} ${RUN_DIR}; chmod 755 ${STATE_DIR}; chmod 700 ${RUN_DIR}`) };
}

/** Atomic write: temp file, checksum verified, previous version kept as .prev, then rename. */
export function writeFile(f: RenderedFile): RemoteCommand {
  return {
    argv: sh(
      'set -e; mkdir -p "$(dirname "$1")"; t="$1.skiff-tmp"; umask 077; cat > "$t"; chmod "$2" "$t"; echo "$3  $t" | sha256sum -c --quiet - >/dev/null || { rm -f "$t"; echo "checksum mismatch writing $1" >&2; exit 1; }; if [ -f "$1" ]; then cp -p "$1" "$1.prev"; fi; mv -f "$t" "$1"',
      f.path,
      f.mode.toString(8),
      f.sha256,
    ),
    stdin: f.content,
  };
}

/** Puts back the .prev copy left by writeFile (undo of a write whose follow-up failed). */
export function restoreFile(path: string): RemoteCommand {
  return { argv: sh('if [ -f "$1.prev" ]; then mv -f "$1.prev" "$1"; else rm -f "$1"; fi', path) };
}

/** (Re)starts the agent and waits until it answers with the expected file hash. */
export function startAgent(systemd: boolean, expectSha: string): RemoteCommand {
  const start = systemd
    ? "systemctl daemon-reload; systemctl enable --quiet skiff-agent; systemctl restart skiff-agent"
    : `command -v update-rc.d >/dev/null 2>&1 && update-rc.d skiff-agent defaults >/dev/null 2>&1 || true; ${INIT_SCRIPT} restart`;
  return {
    argv: sh(
      `set -e; ${start}; i=0; while [ $i -lt 100 ]; do out=$(${AGENT_BIN} call version 2>/dev/null || true); case "$out" in *"$1"*) exit 0 ;; esac; sleep 0.1; i=$((i+1)); done; echo "the agent did not answer with the new version within 10 s" >&2; tail -n 20 /var/log/skiff/agent.log 2>/dev/null >&2 || journalctl -u skiff-agent -n 20 --no-pager >&2 || true; exit 1`,
      expectSha,
    ),
    timeoutMs: 30_000,
  };
}

/** Stops and removes the agent, its HAProxy and every file setup wrote (skiff demo --down). */
export function removeAgent(): RemoteCommand {
  return {
    argv: sh(
      `if [ -d /run/systemd/system ] && [ -f ${SYSTEMD_UNIT} ]; then systemctl disable --now --quiet skiff-agent || true; rm -f ${SYSTEMD_UNIT}; systemctl daemon-reload; fi; ` +
        `if [ -x ${INIT_SCRIPT} ]; then ${INIT_SCRIPT} stop || true; command -v update-rc.d >/dev/null 2>&1 && update-rc.d -f skiff-agent remove >/dev/null 2>&1 || true; fi; ` +
        `if [ -f ${RUN_DIR}/haproxy.pid ]; then kill $(head -n 1 ${RUN_DIR}/haproxy.pid) 2>/dev/null || true; fi; ` +
        `rm -rf ${STATE_DIR} ${RUN_DIR} ${LOG_DIR} ${AGENT_BIN} ${AGENT_BIN}.prev ${INIT_SCRIPT} ${INIT_SCRIPT}.prev; ` +
        `for d in /sys/fs/cgroup/skiff /sys/fs/cgroup/memory/skiff /sys/fs/cgroup/cpu/skiff; do [ -d "$d" ] && rmdir "$d" 2>/dev/null; done; true`,
    ),
    timeoutMs: 60_000,
  };
}

/** apt-get remove of packages skiff installed itself. */
export function removePackages(packages: string[]): RemoteCommand {
  return { argv: sh('set -e; export DEBIAN_FRONTEND=noninteractive; apt-get remove -y -qq "$@" >/dev/null', ...packages), timeoutMs: 10 * 60_000 };
}
