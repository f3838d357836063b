// The ssh command line for a machine: connection sharing in a skiff-owned
// socket directory, BatchMode, and host keys always verified against the
// project's known_hosts (then the user's).
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import type { MachineSpec } from "../config/model.ts";
import { UserError } from "../errors.ts";
import { hostSettings } from "../settings.ts";
import { sshOptionProblem } from "../config/ssh-options.ts";
import { identityFileProblem, isSshHost, proxyJumpProblem, SSH_USER } from "../config/ssh-values.ts";

export interface SshContext {
  /** The project's known_hosts file (`<project>/.skiff/known_hosts`). */
  knownHosts: string;
  /** Directory for ControlMaster sockets; short, 0700. */
  socketDir: string;
  /** How long a shared connection stays up after the last use. */
  persist?: string;
  connectTimeoutS?: number;
}

export function defaultSocketDir(): string {
  const base = hostSettings().runtimeDir || tmpdir();
  return join(base, `skiff-${process.getuid?.() ?? "u"}`);
}

const cfgQuote = (p: string) => `"${p.replace(/"/g, '\\"')}"`;

/**
 * The config is validated before it gets here; this is the second line of
 * defence, because a value ssh misreads can run a command (issue 9).
 */
export function checkSshMachine(m: MachineSpec): void {
  const fields: [string, string | undefined, (v: string) => string | undefined][] = [
    ["host", m.host, (v) => (isSshHost(v) ? undefined : v.startsWith("-") ? 'starts with "-", so ssh would read it as an option' : "is not an IP address, host name or ssh alias")],
    ["user", m.user, (v) => (SSH_USER.test(v) ? undefined : v.startsWith("-") ? 'starts with "-", so ssh would read it as an option' : "is not a user name")],
    ["ssh.proxy_jump", m.proxyJump, (v) => { const p = proxyJumpProblem(v); return p && `is not [user@]host[:port] hops: ${p}`; }],
    ["ssh.identity_file", m.identityFile, identityFileProblem],
  ];
  for (const [field, value, check] of fields) {
    const problem = value === undefined ? undefined : check(value);
    if (problem) throw new UserError(`${m.name}: ${field} ${JSON.stringify(value)} ${problem}`, { exitCode: 2, hint: `fix machines.${m.name}.${field} in skiff.yml` });
  }
  for (const [k, v] of Object.entries(m.sshOptions)) {
    const problem = sshOptionProblem(k, v);
    if (problem) throw new UserError(`${m.name}: ${problem}`, { exitCode: 2, hint: `fix machines.${m.name}.ssh.options in skiff.yml` });
  }
}

/** ssh options as argv, without the destination. */
export function sshOptions(m: MachineSpec, ctx: SshContext, overrides: { knownHosts?: string; strict?: "yes" | "accept-new"; share?: boolean } = {}): string[] {
  checkSshMachine(m);
  const known = overrides.knownHosts ? cfgQuote(overrides.knownHosts) : `${cfgQuote(ctx.knownHosts)} ${cfgQuote(join(homedir(), ".ssh", "known_hosts"))}`;
  // ssh keeps the first value it sees for an option: the user's own options go
  // first so they win over our defaults; only allowed ones get here (ssh-options.ts).
  const args: string[] = Object.entries(m.sshOptions).flatMap(([k, v]) => ["-o", `${k}=${v}`]);
  args.push(
    "-o", "BatchMode=yes",
    "-o", `StrictHostKeyChecking=${overrides.strict ?? "yes"}`,
    "-o", `UserKnownHostsFile=${known}`,
    "-o", `ConnectTimeout=${ctx.connectTimeoutS ?? 10}`,
    "-o", "ServerAliveInterval=5",
    "-o", "ServerAliveCountMax=3",
    "-o", "LogLevel=ERROR",
    // The agent socket's forward (agent-forward.ts) may be added to a master this ssh starts: a socket file left
    // by an earlier master that exited must be replaced, not refused (EADDRINUSE). Affects unix-socket forwards only.
    "-o", "StreamLocalBindUnlink=yes",
  );
  if (overrides.share !== false) args.push("-o", "ControlMaster=auto", "-o", `ControlPath=${join(ctx.socketDir, "%C")}`, "-o", `ControlPersist=${ctx.persist ?? "60s"}`);
  else args.push("-o", "ControlMaster=no", "-o", "ControlPath=none");
  if (m.port) args.push("-p", String(m.port));
  if (m.user) args.push("-l", m.user);
  if (m.identityFile) args.push("-i", m.identityFile.replace(/^~(?=\/)/, homedir()), "-o", "IdentitiesOnly=yes");
  if (m.proxyJump) args.push("-J", m.proxyJump);
  return args;
}

/**
 * The destination, after `--`: ssh then reads neither it nor the remote
 * command after it as options, whatever they hold.
 */
export function sshDestination(m: MachineSpec): string[] {
  return ["--", m.host];
}

/** `machines trust`: one connection that records the host key in `file` (accept-new), unhashed (the file is committed and reviewed by people). */
export function trustScanArgv(m: MachineSpec, ctx: SshContext, file: string): string[] {
  return ["-o", "HashKnownHosts=no", ...sshOptions(m, ctx, { knownHosts: file, strict: "accept-new", share: false }), ...sshDestination(m), "true"];
}
