// The shapes of values that leave skiff.yml for HAProxy's config, its Runtime
// API, ssh's command line, Docker and timers. Checked at the schema so a
// mistake (or a hostile pull request) gets file:line:col before anything runs;
// src/proxy/values.ts and the ssh transport check again at their own output.
import { isIP } from "node:net";

const LABEL = "[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?";
/** A DNS name as HAProxy matches it against the Host header (`hdr(host),field(1,:) -i`): exact, so no
 *  wildcard; lowercase, so two apps cannot take the same host by spelling it differently. */
const ROUTE_HOST = new RegExp(`^${LABEL}(?:\\.${LABEL})*$`);

export const isRouteHost = (s: string) => s.length <= 253 && ROUTE_HOST.test(s);

// RFC 3986 path characters, without the quote and `$` (HAProxy's config parser gives those meaning) and
// with `%` only as percent-encoding. `#`, spaces, backslashes and control characters are out.
const PCHAR = "[A-Za-z0-9\\-._~!&()*+,;=:@/]|%[0-9A-Fa-f]{2}";
const ROUTE_PATH = new RegExp(`^/(?:${PCHAR})*$`);
/** A health check may carry a query string. */
const CHECK_PATH = new RegExp(`^/(?:${PCHAR}|\\?)*$`);

export const isRoutePath = (s: string) => s.length <= 1024 && ROUTE_PATH.test(s);
export const isCheckPath = (s: string) => s.length <= 1024 && CHECK_PATH.test(s);

/** A host ssh connects to: an IP address, or a DNS name or ~/.ssh/config alias. Never starts with `-`
 *  (ssh would take it as an option), no spaces or `@` (the user has its own field). */
const SSH_HOST = /^[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,252})$/;
export const isSshHost = (s: string) => isIP(s) !== 0 || SSH_HOST.test(s);

/** A login name: letters, digits, `_ . -`, not starting with `-`; a trailing `$` as Samba machine accounts have. */
export const SSH_USER = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}\$?$/;

/** ssh -J: `[user@]host[:port]` hops separated by commas; an IPv6 host in brackets. */
export function proxyJumpProblem(s: string): string | undefined {
  for (const hop of s.split(",")) {
    const m = /^(?:([^@]*)@)?(\[[^\]]*\]|[^:@]*)(?::([^:]*))?$/.exec(hop);
    if (!m) return `"${hop}" is not [user@]host[:port]`;
    const [, user, host, port] = m;
    if (user !== undefined && !SSH_USER.test(user)) return `"${hop}": "${user}" is not a user name`;
    const bare = host!.startsWith("[") ? host!.slice(1, -1) : host!;
    if (host!.startsWith("[") ? isIP(bare) !== 6 : !isSshHost(bare) || bare.includes(":")) return `"${hop}": "${host}" is not a host name or address`;
    if (port !== undefined && !(/^\d{1,5}$/.test(port) && Number(port) >= 1 && Number(port) <= 65535)) return `"${hop}": port "${port}" is not 1–65535`;
  }
  return undefined;
}

export const hasControl = (s: string) => /[\x00-\x1f\x7f]/.test(s);
