import { join } from "node:path";
import type { MachineSpec, Project } from "../config/model.ts";
import { LocalTransport } from "./local.ts";
import { defaultSocketDir, type SshContext } from "./ssh-args.ts";
import { SshTransport } from "./ssh.ts";
import type { Transport } from "./types.ts";
import { hostSettings } from "../settings.ts";

export function sshContext(project: Project, overrides: Partial<SshContext> = {}): SshContext {
  return { knownHosts: knownHostsFile(project), socketDir: hostSettings().socketDir || defaultSocketDir(), ...overrides };
}

export function knownHostsFile(project: Project): string {
  return join(project.dir, ".skiff", "known_hosts");
}

export function connect(machine: MachineSpec, ctx: SshContext): Transport {
  return machine.local ? new LocalTransport(machine) : new SshTransport(machine, ctx);
}
