// The machine's side of internal names (proxy/internal.ts is the pure side):
// which addresses the internal frontend can listen on here, and the hosts-file
// block that points every name at it.
import { join } from "node:path";
import { STATE_DIR } from "../contracts/paths.ts";
import { HOSTS_FILE } from "../lib/hosts-block.ts";
import { INTERNAL_ADDR, internalHostsLines } from "../proxy/internal.ts";
import type { ProxyState } from "../proxy/model.ts";
import { bridgeGateway } from "../runtime/docker-bridge.ts";
import { HostsFile, type HostsBlockWriter } from "./hosts-file.ts";

/** The internal loopback address (Linux routes all of 127/8 to lo), and Docker's bridge gateway where the machine
 *  has one: containers reach the host there (their /etc/hosts says so), never at the host's loopback. None off
 *  Linux (127.77.0.1 is not an address there until configured). */
export function internalAddrsOf(gateway: string | null, platform = process.platform): string[] {
  if (platform !== "linux") return [];
  return [INTERNAL_ADDR, ...(gateway ? [gateway] : [])];
}

/** The machine's internal addresses now; undefined when Docker's Engine did not answer (keep the ones in use).
 *  Asked each time the proxy's structure changes, so an address that went away is not bound again. */
export async function machineInternalAddrs(): Promise<string[] | undefined> {
  const gateway = await bridgeGateway();
  return gateway === undefined ? undefined : internalAddrsOf(gateway);
}

/** The hosts file of the machine, for the controller of the machine's own HAProxy (its proxy directory under the
 *  agent's state directory); any other controller (a test's, an agent run with another state directory) writes
 *  no hosts file unless given one. */
export function machineHostsFile(proxyDir: string): HostsBlockWriter | null {
  return proxyDir === join(STATE_DIR, "proxy") ? new HostsFile(HOSTS_FILE) : null;
}

/** Writes the names of the proxy state's apps into the hosts block. A failure is reported once per distinct error
 *  and never fails the change that caused it: the app still serves on its public routes. */
export class NamesPublisher {
  private lastProblem = "";

  constructor(
    private readonly hosts: HostsBlockWriter | null,
    private readonly log: (s: string) => void,
  ) {}

  publish(state: ProxyState): void {
    if (!this.hosts) return;
    try {
      const lines = internalHostsLines(state);
      if (this.hosts.write(lines)) this.log(`names: the hosts file names ${lines.length} app(s)`);
      this.lastProblem = "";
    } catch (e) {
      const problem = (e as Error).message;
      if (problem !== this.lastProblem) this.log(`names: cannot write the hosts file (${problem}); internal names do not resolve on this machine`);
      this.lastProblem = problem;
    }
  }
}
