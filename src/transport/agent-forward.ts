// The agent's socket on a machine as a local unix socket: a forward
// (`-L local:remote`, OpenSSH's direct-streamlocal channels) held by the shared
// ControlMaster connection. A command then costs a connect() here and a channel
// on the open connection: no ssh process, no remote shell, no Node started on
// the machine (`skiff-agent connect` cost ~0.1 s of a warm `skiff status`).
//
// Why not `ssh -W /run/skiff/agent.sock`: OpenSSH 9.2 (Debian 12) takes only
// host:port there; a path is dropped without a word and ssh opens a login
// shell instead, which then waits on the channel's stdin forever.
//
// Only for root logins: sshd opens the socket as the login user and the socket
// is root's alone (0600 in a 0700 directory); other users keep `sudo -n
// skiff-agent connect`. The forward's local end lives in the socket directory
// beside the ControlMaster socket (0700, checked as ours; the socket itself is
// 0600, ssh's StreamLocalBindMask): whoever can use it could use the master too.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Socket } from "node:net";
import type { MachineSpec } from "../config/model.ts";
import { runProcess } from "./process.ts";
import { connectUnix, OpenFailed, type Ending } from "./agent-socket.ts";

/** Where the forward of `m`'s agent socket listens; one per ssh destination, like the master it rides on. */
export function forwardPath(socketDir: string, m: MachineSpec): string {
  const id = createHash("sha256").update(JSON.stringify([m.host, m.port ?? 22, m.user ?? "", m.proxyJump ?? ""])).digest("hex").slice(0, 16);
  return join(socketDir, `agent-${id}`);
}

/** A path ssh can take in `-L local:remote` (no colon) and the kernel can bind (sun_path is 108 bytes). */
export const forwardable = (local: string) => !local.includes(":") && Buffer.byteLength(local) < 100;

const gone = (e: unknown) => ["ENOENT", "ECONNREFUSED"].includes((e as NodeJS.ErrnoException).code ?? "");

/**
 * Connects to the forward of `remote`, making it first if it is not there (or
 * stale: a master that exited leaves its socket file behind). `ssh(extra)` is
 * the machine's ssh argv with `extra` before the destination.
 */
export async function openForward(local: string, remote: string, ssh: (extra: string[]) => string[]): Promise<Socket> {
  try {
    return await connectUnix(local);
  } catch (e) {
    if (!gone(e)) throw e;
  }
  const fwd = ["-o", "StreamLocalBindUnlink=yes", "-L", `${local}:${remote}`];
  // A master is up (an earlier command of this run, or one in the last minute): add the forward to it.
  // No master socket in the directory at all (the first command in a while): no use asking.
  const added = anyMaster(dirname(local)) ? await runProcess("ssh", ssh([...fwd, "-O", "forward"]), { timeoutMs: 10_000 }) : { code: -1 };
  if (added.code !== 0) {
    // No master: this ssh becomes it (ControlMaster=auto), with the forward, and goes to the background once
    // authenticated and the forward is listening (-f with ExitOnForwardFailure); ControlPersist ends it later.
    const made = await background(ssh([...fwd, "-o", "ExitOnForwardFailure=yes", "-f", "-N"]));
    if (made.code !== 0) throw new OpenFailed(made);
  }
  return connectUnix(local);
}

/** Whether the socket directory holds any ControlMaster socket (they are named by ssh's %C hash; forwards are agent-*). */
function anyMaster(dir: string): boolean {
  try {
    return readdirSync(dir).some((n) => !n.startsWith("agent-"));
  } catch {
    return true;
  }
}

/** Runs ssh -f: waits for the foreground process's exit, and for its stderr unless the master in the background still holds it. */
function background(argv: string[]): Promise<Ending> {
  return new Promise((resolve) => {
    const child = spawn("ssh", argv, { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    let code: number | null | undefined;
    let ended = false;
    const settle = () => code !== undefined && ended && resolve({ code, stderr });
    child.stderr!.on("data", (b: Buffer) => (stderr += b.toString()));
    child.stderr!.on("end", () => ((ended = true), settle()));
    child.on("error", (e) => resolve({ code: 127, stderr: `ssh: ${e.message}` }));
    child.on("exit", (c) => {
      code = c;
      settle();
      setTimeout(() => ((ended = true), child.stderr!.destroy(), settle()), 200).unref();
    });
  });
}
