// A failure of a step on a machine, worded for the person who ran skiff.
import { UserError } from "../errors.ts";
import { exitMeaning } from "./exit-codes.ts";

const NOISE = /^(Warning: Permanently added|debug\d?:|Pseudo-terminal will not be allocated)/;

/** The stderr lines worth showing: no noise, at most the last `max`. */
export function relevantStderr(stderr: string, max = 12): string[] {
  const lines = stderr.split("\n").map((l) => l.trimEnd()).filter((l) => l && !NOISE.test(l) && !/^@+$/.test(l));
  return lines.slice(-max);
}

/** A hint for well-known ssh failures, keyed on their stderr. */
export function sshHint(machine: string, stderr: string): string | undefined {
  if (/REMOTE HOST IDENTIFICATION HAS CHANGED/.test(stderr))
    return `the host key of "${machine}" differs from the one recorded in .skiff/known_hosts; this can be an attack. If the machine was rebuilt, compare the fingerprint out of band, then run \`skiff machines trust ${machine} --replace\``;
  if (/Host key verification failed|No .* host key is known/.test(stderr))
    return `"${machine}" is not trusted yet: run \`skiff machines trust ${machine}\` to see its fingerprint and record it`;
  if (/Permission denied \(/.test(stderr)) return "ssh authentication failed: check the user, `ssh.identity_file`, or that your key is in the machine's authorized_keys";
  if (/Connection refused/.test(stderr)) return "nothing listens on the ssh port: check `host` and `port`, and that sshd runs";
  if (/timed out|No route to host|Network is unreachable/.test(stderr)) return "the machine did not answer: check the address, the network and any firewall";
  if (/Could not resolve hostname/.test(stderr)) return "the host name does not resolve: check `host`";
  if (/sudo: a password is required/.test(stderr)) return "the ssh user needs passwordless sudo (or use root)";
  return undefined;
}

export class RemoteError extends UserError {
  constructor(
    readonly machine: string,
    readonly step: string,
    readonly command: string,
    readonly code: number | null,
    readonly signal: string | null,
    readonly stderrLines: string[],
    viaSsh: boolean,
    hint?: string,
  ) {
    const meaning = exitMeaning(code, signal, viaSsh);
    const head = `${machine}: ${step} failed (exit ${code ?? signal}: ${meaning})`;
    const body = stderrLines.length ? "\n" + stderrLines.map((l) => `  │ ${l}`).join("\n") : "";
    super(head + body, { hint, exitCode: 1 });
    this.name = "RemoteError";
  }
}
