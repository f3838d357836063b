// The shapes of values that leave skiff.yml for HAProxy's config, its Runtime
// API, ssh's command line, Docker and timers. Checked at the schema so a
// mistake (or a hostile pull request) gets file:line:col before anything runs;
// src/proxy/values.ts checks again at its own output; the ssh values are
// defined (and checked again) in src/config/ssh-values.ts.

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

export const hasControl = (s: string) => /[\x00-\x1f\x7f]/.test(s);
