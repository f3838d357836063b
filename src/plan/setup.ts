// Pure: machine facts and what skiff needs in, the steps to get there out.
// An empty plan means the machine is ready, and a second setup says so.
import { NODE_BIN } from "../contracts/paths.ts";
import { compareVersions } from "../machines/elf.ts";
import type { FirewallEntry } from "../contracts/firewall.ts";
import type { MachineFacts } from "../machines/probe.ts";
import { describeFirewall, firewallSettled } from "./firewall.ts";
import { agentWrapper, initScript, systemdUnit, type RenderedFile } from "./agent-files.ts";

export const MIN_NODE = 18;

/** The Node runtime setup ships for the agent (the CLI's own, by default), as facts to plan with. */
export interface NodeRuntime {
  /** Where it was read ("the CLI's own Node, /usr/bin/node"), for messages. */
  source: string;
  version: string;
  sha256: string;
  bytes: number;
  /** As `uname -m` says it. */
  arch: string;
  /** The newest glibc and libstdc++ symbol versions it needs; glibc absent for a static build. */
  glibc?: string;
  glibcxx?: string;
  /** Why it cannot run on any Linux machine (a macOS binary…): every machine that lacks a runtime is refused with this. */
  problem?: string;
  /** Named by SKIFF_AGENT_NODE: a runtime someone chose is shipped or refused, never quietly replaced by the machine's. */
  chosen?: boolean;
}

export interface SetupDesired {
  agent: RenderedFile;
  /** The ACME order program beside the agent (absent: setup leaves it). A new one needs no agent restart: each
   *  order runs the file anew. */
  acme?: RenderedFile;
  node: NodeRuntime;
  /** Docker Engine is installed only when an app runs in containers. */
  needsDocker: boolean;
  /** restic is installed where the project backs something up (every machine: any may be a backup's target). */
  needsRestic?: boolean;
  /** This project's word about the machine's firewall (its machines' addresses, or off); absent: setup leaves it. */
  firewall?: FirewallEntry;
}

const OTHER_NODE = "set SKIFF_AGENT_NODE to a Linux Node binary that fits (nodejs.org's linux-x64 or linux-arm64 build), then run setup again";

export type SetupStep =
  | { kind: "install-packages"; packages: string[] }
  | { kind: "install-node"; node: NodeRuntime; replaces: boolean }
  | { kind: "start-docker"; systemd: boolean }
  | { kind: "create-dirs" }
  | { kind: "write-file"; file: RenderedFile }
  | { kind: "start-agent"; systemd: boolean; restart: boolean }
  | { kind: "firewall"; entry: FirewallEntry };

export interface SetupPlan {
  steps: SetupStep[];
  /** Reasons this machine cannot be set up; when present, steps are empty. */
  problems: string[];
  /** What the user should know although nothing is wrong (the agent kept on the machine's own Node). */
  notes?: string[];
}

export function describeStep(s: SetupStep): string {
  switch (s.kind) {
    case "install-packages":
      return `install ${s.packages.join(", ")} (apt)`;
    case "start-docker":
      return "start Docker Engine";
    case "install-node":
      return `install the agent's Node runtime ${s.node.version} (${(s.node.bytes / 1e6).toFixed(0)} MB)`;
    case "create-dirs":
      return "create /var/lib/skiff";
    case "write-file":
      return `write ${s.file.label} (${s.file.path})`;
    case "start-agent":
      return `${s.restart ? "restart" : "start"} the agent (${s.systemd ? "systemd" : "supervised daemon"})`;
    case "firewall":
      return `firewall: ${describeFirewall(s.entry)}`;
  }
}

/** Why this machine cannot run `rt` (empty when it can); may add a library package apt can install. */
export function runtimeProblems(f: MachineFacts, rt: NodeRuntime, packages: string[]): string[] {
  if (rt.problem) return [`${rt.problem}: ${OTHER_NODE}`];
  const out: string[] = [];
  const what = `the agent's Node runtime (${rt.version}, ${rt.source})`;
  if (rt.arch !== f.arch) out.push(`${what} is built for ${rt.arch}, this machine is ${f.arch}: ${OTHER_NODE}`);
  else if (rt.glibc && !f.libc?.glibc) out.push(`${what} needs glibc ${rt.glibc}; ${f.os.name} has none (musl?): ${OTHER_NODE}`);
  else if (rt.glibc && compareVersions(f.libc!.glibc!, rt.glibc) < 0) out.push(`${what} needs glibc ${rt.glibc}; ${f.os.name} has ${f.libc!.glibc}: ${OTHER_NODE}`);
  else if (rt.glibcxx && !f.libc?.glibcxx) packages.push("libstdc++6");
  else if (rt.glibcxx && compareVersions(f.libc!.glibcxx!, rt.glibcxx) < 0) out.push(`${what} needs libstdc++ GLIBCXX_${rt.glibcxx}; ${f.os.name} has GLIBCXX_${f.libc!.glibcxx}: ${OTHER_NODE}`);
  // The new file is written beside the old one before it replaces it.
  const needKb = Math.ceil((rt.bytes * 2) / 1024);
  if (f.disk.totalKb && f.disk.freeKb < needKb) out.push(`${what} needs ${(needKb / 1024).toFixed(0)} MB free under /var/lib/skiff; the machine has ${(f.disk.freeKb / 1024).toFixed(0)} MB: free some space, then run setup again`);
  return out;
}

/**
 * The CLI's own Node cannot run on Linux (setup from a Mac, say): the machine's Node is kept as it is, with a note:
 * skiff's runtime from an earlier setup, or the distribution's Node if it is at least 18 (the agent's floor).
 * None: refused, with the hint to ship a Linux build.
 */
export function keptNode(f: MachineFacts, rt: NodeRuntime): { version: string; note: string } | undefined {
  if (!rt.problem || rt.chosen || !f.node || f.node.major < 18) return undefined;
  const whose = f.sha.node && f.node.path === NODE_BIN ? "skiff's Node runtime from an earlier setup" : `the machine's own Node (${f.node.path})`;
  return { version: f.node.version, note: `the agent runs on ${whose}, ${f.node.version}, because ${rt.problem}; set SKIFF_AGENT_NODE to a Linux Node binary to ship the same runtime to every machine` };
}

export function planSetup(f: MachineFacts, want: SetupDesired): SetupPlan {
  const packages: string[] = [];
  if (want.needsDocker && !f.docker) packages.push("docker.io");
  if (!f.haproxy) packages.push("haproxy");
  if (want.firewall?.enabled && !f.nft) packages.push("nftables");
  if (want.needsRestic && !f.restic) packages.push("restic");
  const kept = f.sha.node !== want.node.sha256 ? keptNode(f, want.node) : undefined;
  const nodeMissing = !kept && f.sha.node !== want.node.sha256;
  const problems = nodeMissing ? runtimeProblems(f, want.node, packages) : [];

  const debianLike = f.os.id === "debian" || f.os.id === "ubuntu" || f.os.like.includes("debian");
  if (packages.length && !(f.apt && debianLike)) problems.unshift(`${f.os.name} is not Debian or Ubuntu: install ${packages.join(", ")} yourself, then run setup again`);
  if (problems.length) return { steps: [], problems };

  const steps: SetupStep[] = [];
  if (packages.length) steps.push({ kind: "install-packages", packages });
  if (want.needsDocker && f.docker && !f.docker.server) steps.push({ kind: "start-docker", systemd: f.systemd });
  if (nodeMissing) steps.push({ kind: "install-node", node: want.node, replaces: Boolean(f.sha.node) });
  if (!f.stateDir) steps.push({ kind: "create-dirs" });

  const files: [RenderedFile, string | undefined][] = [
    [want.agent, f.sha.agent],
    [agentWrapper(), f.sha.agentBin],
    f.systemd ? [systemdUnit(), f.sha.unit] : [initScript(), f.sha.init],
  ];
  const writes = files.filter(([file, has]) => file.sha256 !== has).map(([file]) => ({ kind: "write-file" as const, file }));
  steps.push(...writes);
  if (want.acme && want.acme.sha256 !== f.sha.acme) steps.push({ kind: "write-file", file: want.acme });

  const running = f.agent !== undefined;
  // Every machine runs the same agent on the same runtime: a new runtime restarts the agent too.
  const stale = running && (f.agent!.sha256 !== want.agent.sha256 || f.agent!.node !== (kept?.version ?? want.node.version));
  if (!running || stale || writes.length || nodeMissing) steps.push({ kind: "start-agent", systemd: f.systemd, restart: running });
  if (want.firewall && !firewallSettled(f.firewall, want.firewall)) steps.push({ kind: "firewall", entry: want.firewall });
  return { steps, problems, ...(kept ? { notes: [kept.note] } : {}) };
}
