// Pure: skiff's own nftables table, as the text `nft -f` applies in one
// transaction. Only `table inet skiff` is ever named: no flush ruleset, no other
// table. Everything the table does not name keeps the policy accept (SSH, public
// frontends, whatever the machine's owner runs).
import { isIP } from "node:net";
import { INSTANCE_PORTS, MESH_PORTS } from "../contracts/ports.ts";

export const TABLE = "skiff";

export interface FirewallInput {
  /** Addresses of the project's machines (every project on this machine: the union), IPv4 or IPv6. */
  peers: string[];
  /** Docker bridge gateways, where the internal frontend listens for this machine's containers. */
  gateways: string[];
}

/** An address as nft takes it, or an error naming it: nothing but an IP literal reaches the file. */
export function checkedAddress(a: string, what: string): { addr: string; v: 4 | 6 } {
  const v = isIP(a);
  if (v !== 4 && v !== 6) throw new Error(`${what} ${JSON.stringify(a)} is not an IPv4 or IPv6 address`);
  // isIP accepts an IPv6 zone ("fe80::1%eth0"); nft does not, and a zone never names a peer across machines.
  if (a.includes("%")) throw new Error(`${what} ${JSON.stringify(a)} has a zone index; give the address alone`);
  return { addr: a.toLowerCase(), v };
}

const uniqueSorted = (xs: string[]) => [...new Set(xs)].sort();

function set(name: string, type: string, elements: string[]): string[] {
  return [`\tset ${name} {`, `\t\ttype ${type}`, ...(elements.length ? [`\t\telements = { ${elements.join(", ")} }`] : []), "\t}"];
}

/** The ports only the project's machines may reach on any of this machine's addresses. */
export const PROTECTED_PORTS = `{ ${MESH_PORTS.http}, ${MESH_PORTS.tcp}, ${INSTANCE_PORTS.from}-${INSTANCE_PORTS.to} }`;

// Containers of this machine (Docker's default bridge and its user-defined networks) count as the machine itself.
const BRIDGES = ['iifname "docker0" accept', 'iifname "br-*" accept'];
// A refused connection fails at once for a client that should not be calling; TCP gets a reset, UDP a port-unreachable.
const REFUSE = ["meta l4proto tcp reject with tcp reset", "reject"];

/** The whole table. Throws on an address that is not one (the agent checks before it stores; this is the last guard). */
export function renderTable(input: FirewallInput): string {
  const peers = input.peers.map((a) => checkedAddress(a, "machine address"));
  const v4 = uniqueSorted(peers.filter((p) => p.v === 4).map((p) => p.addr));
  const v6 = uniqueSorted(peers.filter((p) => p.v === 6).map((p) => p.addr));
  const gateways = uniqueSorted(input.gateways.map((a) => checkedAddress(a, "Docker gateway").addr));
  // Every port, not the HTTP names' 80 alone: TCP apps' internal frontends listen there too (internal_port).
  const gatewayRules = gateways.map((g) => `\t\t${isIP(g) === 4 ? "ip" : "ip6"} daddr ${g} jump from_machine`);
  return [
    `table inet ${TABLE} {`,
    ...set("peers4", "ipv4_addr", v4),
    ...set("peers6", "ipv6_addr", v6),
    "",
    "\tchain from_peers {",
    ...BRIDGES.map((r) => `\t\t${r}`),
    "\t\tip saddr @peers4 accept",
    "\t\tip6 saddr @peers6 accept",
    ...REFUSE.map((r) => `\t\t${r}`),
    "\t}",
    "",
    "\tchain from_machine {",
    ...BRIDGES.map((r) => `\t\t${r}`),
    ...REFUSE.map((r) => `\t\t${r}`),
    "\t}",
    "",
    // Before Docker's DNAT (nat prerouting, -100): a published instance port still has the machine's address and
    // port here, so one chain guards process apps (input) and containers (forward) alike.
    "\tchain prerouting {",
    "\t\ttype filter hook prerouting priority -150; policy accept;",
    // What the machine sends itself arrives on lo; 127/8 and the machine's own addresses never come from outside.
    '\t\tiifname "lo" accept',
    `\t\tfib daddr type local meta l4proto { tcp, udp } th dport ${PROTECTED_PORTS} jump from_peers`,
    // The internal frontends on Docker's gateway (HTTP names on 80, TCP apps on their internal_port) are for this
    // machine's containers; a LAN host that routes the gateway's address through this machine (Linux answers on
    // any interface) is refused, on every port of that address.
    ...gatewayRules,
    "\t}",
    "}",
  ].join("\n");
}

/** The file for `nft -f`: one transaction that replaces skiff's table whole, whether it existed or not
 *  (nft 1.0.6 has no `destroy`: `add` makes sure there is one to delete). A failure leaves the old table. */
export function applyScript(input: FirewallInput): string {
  return `add table inet ${TABLE}\ndelete table inet ${TABLE}\n${renderTable(input)}\n`;
}

/** The file that takes skiff's table away (and does nothing when there is none). */
export const REMOVE_SCRIPT = `add table inet ${TABLE}\ndelete table inet ${TABLE}\n`;
