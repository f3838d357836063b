// What may reach haproxy.cfg or the Runtime API. The config schema checks the
// same things earlier, with positions; these checks stand on their own, so no
// value from skiff.yml (or a damaged state file) can add a directive, an ACL
// pattern or a second Runtime API command, whatever path it came by.
import { isIP } from "node:net";

/** A value the proxy cannot carry safely: names the field and says why. */
export class ProxyValueError extends Error {
  constructor(what: string, value: unknown, why: string) {
    super(`${what} ${JSON.stringify(value)} cannot be used in HAProxy: ${why}`);
    this.name = "ProxyValueError";
  }
}

const LABEL = "[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?";
const HOSTNAME = new RegExp(`^${LABEL}(?:\\.${LABEL})*\\.?$`);
/** RFC 3986 path characters without the single quote (it would end the quoting). */
const PATH = /^\/[A-Za-z0-9._~!$&()*+,;=:@%/-]*$/;
/** A health check may carry a query string. */
const CHECK_PATH = /^\/[A-Za-z0-9._~!$&()*+,;=:@%/?-]*$/;
/** HAProxy proxy and server names (and instance names kept in comments). */
const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
/** File paths and syslog targets the agent itself chooses. */
const LOCAL_PATH = /^[A-Za-z0-9_./:@-]+$/;

export function checkHost(host: string, what = "route host"): string {
  if (typeof host !== "string" || host.length > 253 || !HOSTNAME.test(host)) throw new ProxyValueError(what, host, "a host is a DNS name (letters, digits, '-', '.'), without spaces, ports or other characters");
  return host;
}

export function checkRoutePath(path: string, what = "route path"): string {
  if (typeof path !== "string" || path.length > 1024 || !PATH.test(path)) throw new ProxyValueError(what, path, "a path starts with '/' and holds only URL path characters (no spaces, quotes, '#', '?', backslashes or control characters)");
  return path;
}

export function checkHealthPath(path: string): string {
  if (typeof path !== "string" || path.length > 1024 || !CHECK_PATH.test(path)) throw new ProxyValueError("health path", path, "a path starts with '/' and holds only URL characters (no spaces, quotes, '#', backslashes or control characters)");
  return path;
}

export function checkName(name: string, what: string): string {
  if (typeof name !== "string" || !NAME.test(name)) throw new ProxyValueError(what, name, "names hold only letters, digits, '_', '.', '-'");
  return name;
}

export function checkAddr(addr: string, what = "address"): string {
  if (typeof addr !== "string" || isIP(addr) === 0) throw new ProxyValueError(what, addr, "an address is an IPv4 or IPv6 address");
  return addr;
}

export function checkPort(port: number, what = "port"): number {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new ProxyValueError(what, port, "a port is an integer from 1 to 65535");
  return port;
}

export function checkLocalPath(path: string, what: string): string {
  if (typeof path !== "string" || !LOCAL_PATH.test(path)) throw new ProxyValueError(what, path, "only letters, digits and _ . / : @ - are allowed");
  return path;
}

/** `addr:port` for a server line; IPv6 addresses need no brackets there, but get them for clarity. */
export const serverAddress = (addr: string, port: number) => `${isIP(checkAddr(addr)) === 6 ? `[${addr}]` : addr}:${checkPort(port)}`;

/** One word in haproxy.cfg: plain names stay bare; anything else goes in single quotes (no escapes, no variable
 *  expansion). Only for values already checked to hold no quote, backslash or control character. */
export function quoted(value: string): string {
  if (/['\\\x00-\x1f\x7f]/.test(value)) throw new ProxyValueError("value", value, "quotes, backslashes and control characters cannot be quoted");
  return /^[A-Za-z0-9._/-]+$/.test(value) ? value : `'${value}'`;
}
