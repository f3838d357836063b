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
import { createHash } from "node:crypto";
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Socket } from "node:net";
import type { MachineSpec } from "../config/model.ts";
import { runProcess } from "./process.ts";
import { connectUnix, OpenFailed } from "./agent-socket.ts";

/** Where the forward of `m`'s agent socket listens; one per ssh destination, like the master it rides on. */
export function forwardPath(socketDir: string, m: MachineSpec): string {
  const id = createHash("sha256").update(JSON.stringify([m.host, m.port ?? 22, m.user ?? "", m.proxyJump ?? ""])).digest("hex").slice(0, 16);
  return join(socketDir, `agent-${id}`);
}

/** A path ssh can take in `-L local:remote` (no colon) and the kernel can bind (sun_path is 108 bytes). */
export const forwardable = (local: string) => !local.includes(":") && Buffer.byteLength(local) < 100;

const gone = (e: unknown) => ["ENOENT", "ECONNREFUSED"].includes((e as NodeJS.ErrnoException).code ?? "");

/** A forward: where it listens here, the agent's socket on the machine, and the machine's ssh argv in two parts
 *  (options before the destination, the destination), as the transport builds them. */
export interface ForwardSpec {
  /** The machine's name in the project (what the next run's record keeps: prewarm.ts builds its argv again). */
  machine: string;
  local: string;
  remote: string;
  base: string[];
  dest: string[];
}

/** `ssh(extra, command)`: the machine's ssh argv with `extra` before the destination and `command` after it. */
const sshFor = (f: ForwardSpec) => (extra: string[], command?: string) => [...f.base, ...extra, ...f.dest, ...(command ? [command] : [])];

/** The forwards this run asked for, for the next run to start early (prewarm.ts). */
export const usedForwards = new Map<string, ForwardSpec>();

const ignore = () => {};

/** Connections a prewarm made before the command needed them (unref'd until taken). */
const parked = new Map<string, Socket>();

/** A forward started early: its ssh processes keep this one alive only once the command wants the forward. */
interface Early {
  wanted: boolean;
  refs: (() => void)[];
}
const early = new Map<string, Early>();

/**
 * Starts on a forward before the command has loaded (prewarm.ts): connects to
 * it if it is there (the connection is kept for the first `openForward`), else
 * makes it; `openForward` of the same path waits for this instead of racing it.
 * Nothing of it keeps the process alive until then (a command may never ask).
 */
export function startForward(f: ForwardSpec): void {
  if (pending.has(f.local)) return;
  const e: Early = { wanted: false, refs: [] };
  const background = (ref: () => void) => (e.wanted ? ref() : e.refs.push(ref));
  early.set(f.local, e);
  const p = connectUnix(f.local).then(
    (sock) => void parked.set(f.local, sock.on("error", ignore).unref()),
    (err) => (gone(err) ? makeForward(f.local, f.remote, sshFor(f), background) : undefined),
  );
  p.catch(() => {}); // its failure is the first openForward's to report
  pending.set(f.local, p);
  void p.finally(() => pending.get(f.local) === p && pending.delete(f.local)).catch(() => {});
}

/**
 * Connects to the forward of `f.remote` (the agent's socket on the machine),
 * making it first if it is not there (or stale: a master that exited leaves its
 * socket file behind).
 */
export async function openForward(f: ForwardSpec): Promise<Socket> {
  const { local, remote } = f;
  const ssh = sshFor(f);
  usedForwards.set(local, f);
  const e = early.get(local);
  if (e && !e.wanted) {
    e.wanted = true;
    e.refs.splice(0).forEach((ref) => ref());
  }
  const started = pending.get(local);
  if (started) await started;
  const sock = parked.get(local);
  if (sock) {
    parked.delete(local);
    sock.off("error", ignore);
    if (!sock.destroyed) return sock.ref();
  }
  try {
    return await connectUnix(local);
  } catch (e) {
    if (!gone(e)) throw e;
  }
  // Several channels of this process to one machine (or two machines behind one destination) make it once.
  let making = pending.get(local);
  if (!making) {
    making = makeForward(local, remote, ssh).finally(() => pending.delete(local));
    pending.set(local, making);
  }
  await making;
  try {
    return await connectUnix(local);
  } catch (e) {
    if (!gone(e)) throw e;
    // Our ssh lost a race to become the master (it held the forward itself, and exited): ask the winner.
    const again = await runProcess("ssh", ssh([...forwardArgs(local, remote), "-O", "forward"]), { timeoutMs: 10_000 });
    if (again.code !== 0) throw new OpenFailed({ code: again.code, stderr: again.stderr });
    return connectUnix(local);
  }
}

const forwardArgs = (local: string, remote: string) => ["-o", "StreamLocalBindUnlink=yes", "-o", "ExitOnForwardFailure=yes", "-L", `${local}:${remote}`];

const pending = new Map<string, Promise<void>>();

async function makeForward(local: string, remote: string, ssh: (extra: string[], command?: string) => string[], background?: (ref: () => void) => void): Promise<void> {
  const fwd = forwardArgs(local, remote);
  // A master is up (an earlier command of this run, or one in the last minute): add the forward to it.
  // No master socket in the directory at all (the first command in a while): no use asking.
  if (anyMaster(dirname(local)) && (await runProcess("ssh", ssh([...fwd, "-O", "forward"]), { timeoutMs: 10_000, background })).code === 0) return;
  // No master: this ssh becomes it (ControlMaster=auto) with the forward, runs `true` and leaves the master in
  // the background with the forward listening (ControlPersist ends both later). A foreground command, not
  // `-f -N`: one that loses a race to become master (another skiff at the same moment) still exits.
  const made = await runProcess("ssh", ssh(fwd, "true"), { timeoutMs: 60_000, background });
  if (made.code !== 0) throw new OpenFailed({ code: made.code, stderr: made.stderr });
}

/** Whether the socket directory holds any ControlMaster socket (they are named by ssh's %C hash; forwards are agent-*). */
function anyMaster(dir: string): boolean {
  try {
    return readdirSync(dir).some((n) => !n.startsWith("agent-"));
  } catch {
    return true;
  }
}
