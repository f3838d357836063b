// The host as Docker's containers reach it: the default bridge's gateway (docker0,
// 172.17.0.1 unless the daemon is set otherwise). The Engine names the bridge's
// subnet (and the gateway, when it was set explicitly); the kernel says which
// address of that subnet is this machine's. Not Node's list of interfaces: a
// bridge with no container attached has no carrier, and that list leaves it out.
import { existsSync, readFileSync } from "node:fs";
import { DockerApi } from "./docker-api.ts";

const toInt = (a: string) => a.split(".").reduce((n, o) => n * 256 + Number(o), 0);
const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** This machine's own address inside `subnet` (a.b.c.d/n), from /proc/net/fib_trie's local (/32 host LOCAL) entries. */
export function localAddressIn(fibTrie: string, subnet: string): string | undefined {
  const [net, bits] = subnet.split("/");
  if (!net || !IPV4.test(net) || !/^\d+$/.test(bits ?? "") || Number(bits) > 32) return undefined;
  const mask = Number(bits) === 0 ? 0 : (0xffffffff << (32 - Number(bits))) >>> 0;
  const inside = (a: string) => ((toInt(a) & mask) >>> 0) === ((toInt(net) & mask) >>> 0);
  const lines = fibTrie.split("\n");
  for (let i = 0; i + 1 < lines.length; i++) {
    const addr = /\|-- (\S+)$/.exec(lines[i]!)?.[1];
    if (addr && IPV4.test(addr) && /\/32 host LOCAL/.test(lines[i + 1]!) && inside(addr)) return addr;
  }
  return undefined;
}

/** The bridge's IPv4 gateway; null when the machine has no Docker Engine (or no bridge address); undefined when
 *  the Engine did not say (busy, restarting): the caller keeps what it knew. */
export async function bridgeGateway(api = new DockerApi(), fibTrie = () => readFileSync("/proc/net/fib_trie", "utf8")): Promise<string | null | undefined> {
  if (!existsSync(api.socketPath)) return null;
  let config: { Subnet?: string; Gateway?: string }[];
  try {
    config = (await api.json<{ IPAM?: { Config?: { Subnet?: string; Gateway?: string }[] } }>("GET", "/networks/bridge", undefined, 3000)).IPAM?.Config ?? [];
  } catch {
    return undefined;
  }
  const set = config.map((c) => c.Gateway).find((g) => g && IPV4.test(g));
  if (set) return set;
  let trie = "";
  try {
    trie = fibTrie();
  } catch {}
  for (const c of config) {
    const own = c.Subnet ? localAddressIn(trie, c.Subnet) : undefined;
    if (own) return own;
  }
  return null;
}
