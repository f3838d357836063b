// The host as Docker's containers reach it: the default bridge's gateway (docker0,
// 172.17.0.1 unless the daemon is set otherwise). Asked of the Engine, not read
// from the machine's interfaces: a bridge with no container attached has no
// carrier, and Node's list of interfaces leaves such an interface out.
import { existsSync } from "node:fs";
import { DockerApi } from "./docker-api.ts";

/** The bridge's IPv4 gateway; null when the machine has no Docker Engine; undefined when the Engine did not say
 *  (busy, restarting): the caller keeps what it knew. */
export async function bridgeGateway(api = new DockerApi()): Promise<string | null | undefined> {
  if (!existsSync(api.socketPath)) return null;
  try {
    const net = await api.json<{ IPAM?: { Config?: { Gateway?: string }[] } }>("GET", "/networks/bridge", undefined, 3000);
    return net.IPAM?.Config?.map((c) => c.Gateway).find((g) => g && /^\d+\.\d+\.\d+\.\d+$/.test(g)) ?? null;
  } catch {
    return undefined;
  }
}
