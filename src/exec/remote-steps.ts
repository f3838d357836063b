// Command builders for setup: each returns a script or argv and never runs it,
// so every remote step can be read and tested as data.
import { AGENT_BIN, AGENT_DIR, INIT_SCRIPT, LOG_DIR, NODE_BIN, NODE_DIR, NODE_SHA, RUN_DIR, STATE_DIR, SYSTEMD_UNIT } from "../contracts/paths.ts";
import type { RenderedFile } from "../plan/agent-files.ts";

export interface RemoteCommand {
  argv: string[];
  stdin?: Buffer | string;
  timeoutMs?: number;
}

const sh = (script: string, ...args: string[]): string[] => ["sh", "-c", script, "sh", ...args];

/**
 * apt on every machine at once: no description translations (nobody reads them here; fewer lists to fetch and parse).
 * Package lists fetched within the last day are used as they are: `apt-get update` downloads and parses ~50 MB on
 * Debian 12, the largest part of a fresh machine's setup. Should the install fail with them (a package they lack,
 * a version gone from the mirror), the lists are updated and the install runs again.
 */
export function installPackages(packages: string[]): RemoteCommand {
  const install = 'apt-get install -y -qq --no-install-recommends "$@"';
  return {
    argv: sh(
      "set -e; export DEBIAN_FRONTEND=noninteractive; " +
        "fresh=$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -mmin -1440 2>/dev/null | head -n 1); " +
        `if [ -z "$fresh" ] || ! ${install} >/dev/null 2>&1; then apt-get update -qq -o Acquire::Languages=none; ${install} >/dev/null; fi`,
      ...packages,
    ),
    timeoutMs: 15 * 60_000,
  };
}

export function startDocker(systemd: boolean): RemoteCommand {
  const start = systemd ? "systemctl enable --now docker" : "if [ -x /etc/init.d/docker ]; then /etc/init.d/docker start; else (setsid dockerd >/var/log/dockerd.log 2>&1 </dev/null &); fi";
  return { argv: sh(`set -e; ${start}; i=0; until docker version >/dev/null 2>&1; do i=$((i+1)); [ $i -lt 100 ] || { echo 'dockerd did not answer within 20 s' >&2; exit 1; }; sleep 0.2; done`), timeoutMs: 60_000 };
}

const DIRS = `mkdir -p ${STATE_DIR} ${AGENT_DIR} ${STATE_DIR}/releases ${LOG_DIR} ${RUN_DIR} && chmod 755 ${STATE_DIR} && chmod 700 ${RUN_DIR}`;

/**
 * The Node runtime, gzip on stdin: unpacked beside the old one, checked by
 * sha256 and by starting it (a missing library shows here, with its message),
 * then moved in place; the old one stays as .prev until the agent runs again.
 * The hash file is what the probe reads, so it is written last.
 */
export function installNode(sha256: string): RemoteCommand {
  return {
    argv: sh(
      `set -e; d=${NODE_DIR}; mkdir -p "$d/bin"; t="$d/bin/node.skiff-tmp"; rm -f "$t"
gzip -dc > "$t" || { rm -f "$t"; echo "could not unpack the Node runtime into $d (disk full?)" >&2; exit 1; }
echo "$1  $t" | sha256sum -c --quiet - >/dev/null 2>&1 || { rm -f "$t"; echo "checksum mismatch for the Node runtime (sent $1)" >&2; exit 1; }
chmod 755 "$t"
v=$("$t" --version 2>&1) || { rm -f "$t"; echo "the Node runtime does not start on this machine: $v" >&2; exit 1; }
if [ -f "$d/bin/node" ]; then mv -f "$d/bin/node" "$d/bin/node.prev"; cp -p "$d/sha256" "$d/sha256.prev" 2>/dev/null || true; else rm -f "$d/bin/node.prev" "$d/sha256.prev"; fi
mv -f "$t" "$d/bin/node"; echo "$1" > "$d/sha256"`,
      sha256,
    ),
    timeoutMs: 10 * 60_000,
  };
}

const NODE_RESTORE = `if [ -f ${NODE_DIR}/bin/node.prev ]; then mv -f ${NODE_DIR}/bin/node.prev ${NODE_BIN}; mv -f ${NODE_DIR}/sha256.prev ${NODE_SHA} 2>/dev/null || rm -f ${NODE_SHA}; else rm -f ${NODE_BIN} ${NODE_SHA}; fi`;

/** Puts back the runtime a failed setup replaced (or removes the one it added). */
export function restoreNode(): RemoteCommand {
  return { argv: sh(NODE_RESTORE) };
}

export interface AgentApply {
  createDirs: boolean;
  files: RenderedFile[];
  /** Start (or restart, when one ran before) the agent and wait for it to answer with this agent file's hash. */
  start?: { systemd: boolean; restart: boolean; expectSha: string };
  /** This run installed the Node runtime: a failure here puts the previous one back too. */
  nodeInstalled: boolean;
}

const startCommands = (systemd: boolean) =>
  systemd
    ? "systemctl daemon-reload; systemctl enable --quiet skiff-agent; systemctl restart skiff-agent"
    : `{ command -v update-rc.d >/dev/null 2>&1 && update-rc.d skiff-agent defaults >/dev/null 2>&1 || true; }; ${INIT_SCRIPT} restart`;

/**
 * One round trip for the rest of setup: create the directories, write each
 * file (atomically, checksum verified, the old one kept as .prev), then
 * (re)start the agent and wait until it answers with the new hash. Any failure
 * puts back what this script wrote (and the runtime, when this run replaced it)
 * and restarts the agent that ran before. The files travel inside the script
 * as base64 here-documents: the script itself is stdin.
 */
export function applyAndStart(a: AgentApply): string {
  const put = a.files.map((f) => `put ${f.path} ${f.mode.toString(8)} ${f.sha256} <<'SKIFF_FILE_END'\n${f.content.toString("base64").replace(/.{1,76}/g, "$&\n")}SKIFF_FILE_END`);
  const restart = a.start?.restart ? `${startCommands(a.start.systemd)} >&2 || true` : ":";
  return `{
set -u
EXPECT="\${1:-}"
written=""
undo() {
  for p in $written; do if [ -f "$p.prev" ]; then mv -f "$p.prev" "$p"; else rm -f "$p"; fi; done
  ${a.nodeInstalled ? NODE_RESTORE : ":"}
  ${restart}
}
fail() { echo "$1" >&2; undo; exit 1; }
put() {
  mkdir -p "$(dirname "$1")" || fail "cannot create the folder of $1"
  t="$1.skiff-tmp"
  (umask 077; base64 -d > "$t") || { rm -f "$t"; fail "could not write $1 (disk full?)"; }
  chmod "$2" "$t"
  echo "$3  $t" | sha256sum -c --quiet - >/dev/null 2>&1 || { rm -f "$t"; fail "checksum mismatch writing $1"; }
  if [ -f "$1" ]; then cp -p "$1" "$1.prev"; else rm -f "$1.prev"; fi
  mv -f "$t" "$1" || fail "could not replace $1"
  written="$1 $written"
}
${a.createDirs ? `${DIRS} || fail "cannot create ${STATE_DIR}"` : ":"}
${put.join("\n")}
${a.start ? startWait(a.start.systemd) : ":"}
rm -f ${NODE_DIR}/bin/node.prev ${NODE_DIR}/sha256.prev
} </dev/null
`;
}

/** (Re)starts the agent and waits until it answers with the expected file hash ($EXPECT). */
function startWait(systemd: boolean): string {
  return `${startCommands(systemd)} || fail "could not start the agent"
i=0; ok=""
while [ $i -lt 100 ]; do out=$(${AGENT_BIN} call version 2>/dev/null || true); case "$out" in *"$EXPECT"*) ok=1; break ;; esac; sleep 0.1; i=$((i+1)); done
if [ -z "$ok" ]; then
  echo "the agent did not answer with the new version within 10 s" >&2
  tail -n 20 ${LOG_DIR}/agent.log 2>/dev/null >&2 || journalctl -u skiff-agent -n 20 --no-pager >&2 || true
  undo; exit 1
fi`;
}

/** Stops and removes the agent, its HAProxy and every file setup wrote (skiff demo --down). */
export function removeAgent(): RemoteCommand {
  return {
    argv: sh(
      `if [ -d /run/systemd/system ] && [ -f ${SYSTEMD_UNIT} ]; then systemctl disable --now --quiet skiff-agent || true; rm -f ${SYSTEMD_UNIT}; systemctl daemon-reload; fi; ` +
        `if [ -x ${INIT_SCRIPT} ]; then ${INIT_SCRIPT} stop || true; command -v update-rc.d >/dev/null 2>&1 && update-rc.d -f skiff-agent remove >/dev/null 2>&1 || true; fi; ` +
        `if [ -f ${RUN_DIR}/haproxy.pid ]; then kill $(head -n 1 ${RUN_DIR}/haproxy.pid) 2>/dev/null || true; fi; ` +
        // skiff's firewall table goes with the agent that kept it (and only that table).
        `if [ -x /usr/sbin/nft ]; then /usr/sbin/nft delete table inet skiff 2>/dev/null || true; fi; ` +
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
