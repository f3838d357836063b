// The ssh command line for a machine: connection sharing in a skiff-owned
// socket directory, BatchMode, and host keys always verified against the
// project's known_hosts (then the user's).
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import type { MachineSpec } from "../config/model.ts";

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
  const base = process.env.XDG_RUNTIME_DIR || tmpdir();
  return join(base, `skiff-${process.getuid?.() ?? "u"}`);
}

const cfgQuote = (p: string) => `"${p.replace(/"/g, '\\"')}"`;

/** ssh options as argv, without the destination. */
export function sshOptions(m: MachineSpec, ctx: SshContext, overrides: { knownHosts?: string; strict?: "yes" | "accept-new"; share?: boolean } = {}): string[] {
  const known = overrides.knownHosts ? cfgQuote(overrides.knownHosts) : `${cfgQuote(ctx.knownHosts)} ${cfgQuote(join(homedir(), ".ssh", "known_hosts"))}`;
  // ssh keeps the first value it sees for an option: the user's own options go
  // first so they win over our defaults; the rules reject the ones we must own.
  const args: string[] = Object.entries(m.sshOptions).flatMap(([k, v]) => ["-o", `${k}=${v}`]);
  args.push(
    "-o", "BatchMode=yes",
    "-o", `StrictHostKeyChecking=${overrides.strict ?? "yes"}`,
    "-o", `UserKnownHostsFile=${known}`,
    "-o", `ConnectTimeout=${ctx.connectTimeoutS ?? 10}`,
    "-o", "ServerAliveInterval=5",
    "-o", "ServerAliveCountMax=3",
    "-o", "LogLevel=ERROR",
  );
  if (overrides.share !== false) args.push("-o", "ControlMaster=auto", "-o", `ControlPath=${join(ctx.socketDir, "%C")}`, "-o", `ControlPersist=${ctx.persist ?? "60s"}`);
  else args.push("-o", "ControlMaster=no", "-o", "ControlPath=none");
  if (m.port) args.push("-p", String(m.port));
  if (m.user) args.push("-l", m.user);
  if (m.identityFile) args.push("-i", m.identityFile.replace(/^~(?=\/)/, homedir()), "-o", "IdentitiesOnly=yes");
  if (m.proxyJump) args.push("-J", m.proxyJump);
  return args;
}
