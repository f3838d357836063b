// Pure: machine facts and what skiff needs in, the steps to get there out.
// An empty plan means the machine is ready, and a second setup says so.
import type { MachineFacts } from "../machines/probe.ts";
import { agentWrapper, initScript, systemdUnit, type RenderedFile } from "./agent-files.ts";

export const MIN_NODE = 18;

export interface SetupDesired {
  agent: RenderedFile;
  /** Docker Engine is installed only when an app runs in containers. */
  needsDocker: boolean;
}

export type SetupStep =
  | { kind: "install-packages"; packages: string[] }
  | { kind: "start-docker"; systemd: boolean }
  | { kind: "create-dirs" }
  | { kind: "write-file"; file: RenderedFile }
  | { kind: "start-agent"; systemd: boolean; restart: boolean };

export interface SetupPlan {
  steps: SetupStep[];
  /** Reasons this machine cannot be set up; when present, steps are empty. */
  problems: string[];
}

export function describeStep(s: SetupStep): string {
  switch (s.kind) {
    case "install-packages":
      return `install ${s.packages.join(", ")} (apt)`;
    case "start-docker":
      return "start Docker Engine";
    case "create-dirs":
      return "create /var/lib/skiff";
    case "write-file":
      return `write ${s.file.label} (${s.file.path})`;
    case "start-agent":
      return `${s.restart ? "restart" : "start"} the agent (${s.systemd ? "systemd" : "supervised daemon"})`;
  }
}

export function planSetup(f: MachineFacts, want: SetupDesired): SetupPlan {
  const packages: string[] = [];
  if (want.needsDocker && !f.docker) packages.push("docker.io");
  if (!f.haproxy) packages.push("haproxy");
  const nodeMissing = !f.node;
  if (nodeMissing) packages.push("nodejs");

  const problems: string[] = [];
  const debianLike = f.os.id === "debian" || f.os.id === "ubuntu" || f.os.like.includes("debian");
  if (packages.length && !(f.apt && debianLike)) problems.push(`${f.os.name} is not Debian or Ubuntu: install ${packages.join(", ")} yourself, then run setup again`);
  if (f.node && f.node.major < MIN_NODE) problems.push(`Node.js ${f.node.version} at ${f.node.path} is too old for the agent (needs ${MIN_NODE} or newer): upgrade it, then run setup again`);
  if (problems.length) return { steps: [], problems };

  const steps: SetupStep[] = [];
  if (packages.length) steps.push({ kind: "install-packages", packages });
  if (want.needsDocker && f.docker && !f.docker.server) steps.push({ kind: "start-docker", systemd: f.systemd });
  if (!f.stateDir) steps.push({ kind: "create-dirs" });

  const files: [RenderedFile, string | undefined][] = [
    [want.agent, f.sha.agent],
    [agentWrapper(), f.sha.agentBin],
    f.systemd ? [systemdUnit(), f.sha.unit] : [initScript(), f.sha.init],
  ];
  const writes = files.filter(([file, has]) => file.sha256 !== has).map(([file]) => ({ kind: "write-file" as const, file }));
  steps.push(...writes);

  const running = f.agent !== undefined;
  const stale = running && f.agent!.sha256 !== want.agent.sha256;
  if (!running || stale || writes.length) steps.push({ kind: "start-agent", systemd: f.systemd, restart: running });
  return { steps, problems };
}
