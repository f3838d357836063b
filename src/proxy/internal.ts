// Internal names: every app of every project this machine's agent knows is
// `APP.internal` and `APP.PROJECT.internal`, served by the machine's own HAProxy
// on an address nothing outside the machine reaches (a loopback address of its
// own, and the Docker bridge's gateway for containers). The frontend routes by
// Host to the app's backend, the one public routes use: its healthy instances
// here, its peers on other machines while this one runs none. Pure.
import { INTERNAL_ADDR, INTERNAL_PORT, internalHosts } from "../contracts/internal-names.ts";
import type { ProxyBackend, ProxyState } from "./model.ts";
import { dropClientMarks } from "./mesh.ts";
import { checkAddr, checkHost, checkName, quoted, serverAddress } from "./values.ts";

export { INTERNAL_ADDR, INTERNAL_PORT, internalHosts, internalUrl } from "../contracts/internal-names.ts";

/** A backend that knows whose it is (backends saved before internal names existed do not, until their next activation). */
type Named = ProxyBackend & { project: string; app: string };
const named = (state: ProxyState): Named[] => state.backends.filter((b): b is Named => typeof b.project === "string" && typeof b.app === "string");

export interface InternalRoutes {
  /** Each backend with the names that route to it. */
  routes: { backend: string; hosts: string[] }[];
  /** Short names that two projects' apps both have on this machine: neither gets it (which one it meant would
   *  depend on the machine); the caller is told to say the project. */
  ambiguous: { host: string; projects: string[] }[];
}

export function internalRoutes(state: ProxyState): InternalRoutes {
  const byShort = new Map<string, string[]>();
  for (const b of named(state)) byShort.set(b.app, [...(byShort.get(b.app) ?? []), b.project]);
  // TCP apps have no Host to route by: their names are served by port (tcp.ts). Their short names still count
  // towards ambiguity, so a short name means the same app or none on every machine.
  const routes = named(state).filter((b) => b.tcpPort === undefined).map((b) => {
    const [short, full] = internalHosts(b.project, b.app);
    return { backend: b.name, hosts: byShort.get(b.app)!.length > 1 ? [full!] : [short!, full!] };
  });
  const ambiguous = [...byShort].filter(([, ps]) => ps.length > 1).map(([app, ps]) => ({ host: `${app}.internal`, projects: [...new Set(ps)].sort() }));
  return { routes, ambiguous };
}

/** The hosts-file lines for this machine's names, every one at the internal address (ambiguous short names too:
 *  they resolve, and the frontend answers with what to call instead). */
export function internalHostsLines(state: ProxyState): string[] {
  return named(state).map((b) => `${INTERNAL_ADDR} ${internalHosts(b.project, b.app).join(" ")}`);
}

/** The `internal` frontend, or nothing when no backend has a name or there is no address to listen on. */
export function internalFrontendLines(state: ProxyState): string[] {
  const addrs = state.internalAddrs ?? [INTERNAL_ADDR];
  const { routes, ambiguous } = internalRoutes(state);
  if (!routes.length || !addrs.length) return [];
  const out = ["", "frontend internal"];
  for (const a of addrs) out.push(`  bind ${serverAddress(checkAddr(a, "internal address"), INTERNAL_PORT)}`);
  out.push(...dropClientMarks());
  ambiguous.forEach((x, i) => {
    const msg = `skiff: ${x.host} names apps of several projects on this machine (${x.projects.join(", ")}): call ${x.host.replace(/\.internal$/, "")}.PROJECT.internal\\n`;
    out.push(`  acl a${i} hdr(host),field(1,:) -i ${quoted(checkHost(x.host, "internal name"))}`, `  http-request return status 421 content-type text/plain string "${msg}" if a${i}`);
  });
  routes.forEach((r, i) => {
    out.push(`  acl n${i} hdr(host),field(1,:) -i ${r.hosts.map((h) => quoted(checkHost(h, "internal name"))).join(" ")}`, `  use_backend ${checkName(r.backend, "backend name")} if n${i}`);
  });
  out.push("  default_backend skiff_no_route");
  return out;
}
