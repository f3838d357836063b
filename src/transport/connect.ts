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

/** Makes the transport to a machine in place of ssh / local: a simulated fleet (bench/fleet-sim) or a test. */
export type TransportFactory = (machine: MachineSpec, ctx: SshContext) => Transport;

let factory: TransportFactory | undefined;

/** Routes every later connect() through `f` (for this process); returns the function that puts ssh back. Not
 *  for use in skiff itself: an effect for benches and tests, set once around the calls they make. */
export function useTransport(f: TransportFactory): () => void {
  const before = factory;
  factory = f;
  return () => {
    factory = before;
  };
}

export function connect(machine: MachineSpec, ctx: SshContext): Transport {
  if (factory) return factory(machine, ctx);
  return machine.local ? new LocalTransport(machine) : new SshTransport(machine, ctx);
}
