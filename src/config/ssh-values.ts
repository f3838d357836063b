// What a value on ssh's command line may look like. One definition, used by
// the schema (file:line:col for skiff.yml) and by the transport (the second
// line of defence, for a MachineSpec from anywhere): a value ssh would read as
// an option (a leading `-`, in any jump hop too) can run a command (issue 9).
// Hosts, users and hops keep to host characters, so no shell metacharacter
// reaches ssh's %-expansions (a ~/.ssh/config may hand %h to a shell).
import { isIP } from "node:net";

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

/** A key file's path is one argument after -i, so spaces are fine; a leading `-` or a control character is not. */
export function identityFileProblem(s: string): string | undefined {
  if (s.startsWith("-")) return 'starts with "-", so ssh would read it as an option';
  if (/[\x00-\x1f\x7f]/.test(s)) return "contains a newline or control character";
  return undefined;
}
