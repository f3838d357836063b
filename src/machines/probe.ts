// One round trip that reads everything setup and `machines check` need to know
// about a machine. The script prints key=value lines; parseFacts turns them
// into data the planners take.
import { ACME_FILE, AGENT_BIN, AGENT_FILE, INIT_SCRIPT, LOG_DIR, STATE_DIR, SYSTEMD_UNIT } from "../contracts/paths.ts";
import { NODE_BIN, NODE_SHA } from "../contracts/paths.ts";
import type { AgentInfo } from "../contracts/agent-info.ts";
import type { FirewallStatus } from "../contracts/firewall.ts";

export const PROBE_SCRIPT = `
set -u
v() { command -v "$1" >/dev/null 2>&1; }
sha() { if [ -f "$1" ]; then sha256sum "$1" | cut -d' ' -f1; fi; }
if [ -r /etc/os-release ]; then . /etc/os-release; fi
echo "os_id=\${ID:-unknown}"
echo "os_like=\${ID_LIKE:-}"
echo "os_version=\${VERSION_ID:-}"
echo "os_name=\${PRETTY_NAME:-unknown}"
echo "arch=$(uname -m)"
echo "init=$(cat /proc/1/comm 2>/dev/null)"
echo "uid=$(id -u)"
v apt-get && echo "apt=yes"
v systemctl && echo "systemctl=yes"
if v docker; then
  echo "docker_client=$(docker version --format '{{.Client.Version}}' 2>/dev/null)"
  echo "docker_server=$(docker version --format '{{.Server.Version}}' 2>/dev/null)"
fi
v haproxy && echo "haproxy=$(haproxy -v 2>/dev/null | head -n1 | sed -n 's/^HA-*Proxy version \\([^ ]*\\).*/\\1/p')"
for n in ${NODE_BIN} node nodejs; do if v $n; then echo "node=$($n --version 2>/dev/null)"; echo "node_path=$(command -v $n)"; break; fi; done
echo "glibc=$(getconf GNU_LIBC_VERSION 2>/dev/null | sed -n 's/^glibc //p')"
# The newest libstdc++ symbol version here: the shipped Node runtime needs a minimum.
cxx=$( (ldconfig -p 2>/dev/null || /sbin/ldconfig -p 2>/dev/null) | awk '/libstdc\\+\\+\\.so\\.6 / {print $NF; exit}')
if [ -n "$cxx" ] && [ -f "$cxx" ]; then echo "glibcxx=$(grep -ao 'GLIBCXX_3\\.4\\.[0-9]*' "$cxx" | sort -t. -k3,3n | tail -n1 | sed 's/^GLIBCXX_//')"; fi
echo "node_runtime_sha=$(cat ${NODE_SHA} 2>/dev/null)"
echo "agent_sha=$(sha ${AGENT_FILE})"
echo "agent_bin_sha=$(sha ${AGENT_BIN})"
echo "acme_sha=$(sha ${ACME_FILE})"
echo "unit_sha=$(sha ${SYSTEMD_UNIT})"
echo "init_sha=$(sha ${INIT_SCRIPT})"
[ -d ${STATE_DIR}/releases ] && [ -d ${LOG_DIR} ] && echo "state_dir=yes"
if [ -x ${AGENT_BIN} ]; then echo "agent_info=$(timeout 5 ${AGENT_BIN} call version 2>/dev/null)"; fi
{ [ -x /usr/sbin/nft ] || v nft; } && echo "nft=yes"
v restic && echo "restic=yes"
# skiff's firewall as the agent keeps it (an agent older than the firewall prints nothing).
if [ -x ${AGENT_BIN} ]; then echo "firewall=$(timeout 5 ${AGENT_BIN} call firewall.get 2>/dev/null)"; fi
d=${STATE_DIR}; [ -d "$d" ] || d=/
echo "disk_free_kb=$(df -Pk "$d" | awk 'NR==2 {print $4}')"
echo "disk_total_kb=$(df -Pk "$d" | awk 'NR==2 {print $2}')"
echo "inodes_free=$(df -Pi "$d" 2>/dev/null | awk 'NR==2 {print $4}')"
echo "inodes_total=$(df -Pi "$d" 2>/dev/null | awk 'NR==2 {print $2}')"
echo "mem_total_kb=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)"
echo "mem_avail_kb=$(awk '/^MemAvailable:/ {print $2}' /proc/meminfo)"
echo "cpus=$(nproc 2>/dev/null || echo 1)"
`;

export interface MachineFacts {
  os: { id: string; like: string[]; version: string; name: string };
  arch: string;
  /** True when PID 1 is systemd and systemctl exists. */
  systemd: boolean;
  root: boolean;
  apt: boolean;
  docker?: { client: string; server?: string };
  haproxy?: string;
  /** The Node the agent command finds first: skiff's own runtime, else one on PATH. */
  node?: { version: string; major: number; path: string };
  /** glibc's version ("2.36"), absent on musl; the newest GLIBCXX symbol version of libstdc++.so.6, when installed. */
  libc?: { glibc?: string; glibcxx?: string };
  /** Hashes of what setup installed; `node` is the runtime's, recorded when it was installed and checked. */
  sha: { agent?: string; agentBin?: string; acme?: string; unit?: string; init?: string; node?: string };
  stateDir: boolean;
  /** What the running agent says about itself, when one answers. */
  agent?: AgentInfo;
  /** nftables' `nft` is installed (skiff's firewall needs it). */
  nft?: boolean;
  /** restic is installed (backups need it). */
  restic?: boolean;
  /** skiff's firewall as the agent keeps it; absent when no agent answers (or one older than the firewall). */
  firewall?: FirewallStatus;
  /** Of the filesystem holding /var/lib/skiff; inodes are 0 where the filesystem has no fixed count (btrfs). */
  disk: { freeKb: number; totalKb: number; inodesFree: number; inodesTotal: number };
  memory: { totalKb: number; availKb: number };
  cpus: number;
}

export function parseFacts(out: string): MachineFacts {
  const kv = new Map<string, string>();
  for (const line of out.split("\n")) {
    const i = line.indexOf("=");
    if (i > 0) kv.set(line.slice(0, i), line.slice(i + 1).trim());
  }
  const get = (k: string) => kv.get(k) || undefined;
  const num = (k: string) => Number(kv.get(k) ?? 0) || 0;
  let agent: AgentInfo | undefined;
  try {
    const raw = get("agent_info");
    if (raw) agent = JSON.parse(raw) as AgentInfo;
  } catch {}
  let firewall: FirewallStatus | undefined;
  try {
    const raw = get("firewall");
    if (raw) firewall = JSON.parse(raw) as FirewallStatus;
  } catch {}
  const nodeVersion = get("node");
  return {
    os: { id: get("os_id") ?? "unknown", like: (get("os_like") ?? "").split(/\s+/).filter(Boolean), version: get("os_version") ?? "", name: get("os_name") ?? "unknown" },
    arch: get("arch") ?? "unknown",
    systemd: get("init") === "systemd" && get("systemctl") === "yes",
    root: get("uid") === "0",
    apt: get("apt") === "yes",
    docker: get("docker_client") || get("docker_server") ? { client: get("docker_client") ?? "unknown", server: get("docker_server") } : undefined,
    haproxy: get("haproxy"),
    node: nodeVersion ? { version: nodeVersion, major: Number(/^v?(\d+)/.exec(nodeVersion)?.[1] ?? 0), path: get("node_path") ?? "node" } : undefined,
    libc: get("glibc") || get("glibcxx") ? { glibc: get("glibc"), glibcxx: get("glibcxx") } : undefined,
    sha: { agent: get("agent_sha"), agentBin: get("agent_bin_sha"), acme: get("acme_sha"), unit: get("unit_sha"), init: get("init_sha"), node: get("node_runtime_sha") },
    stateDir: get("state_dir") === "yes",
    agent,
    ...(get("nft") === "yes" ? { nft: true } : {}),
    ...(get("restic") === "yes" ? { restic: true } : {}),
    ...(firewall ? { firewall } : {}),
    disk: { freeKb: num("disk_free_kb"), totalKb: num("disk_total_kb"), inodesFree: num("inodes_free"), inodesTotal: num("inodes_total") },
    memory: { totalKb: num("mem_total_kb"), availKb: num("mem_avail_kb") },
    cpus: num("cpus") || 1,
  };
}
