// The agent's unix socket reached with no process started on the machine for
// it: directly (the `local` machine, as root) or through a forward of the ssh
// connection (agent-forward.ts). It is dressed as the `skiff-agent connect`
// child it replaces, so AgentClient reads answers and failures the same way:
// when the socket ends before any answer, a check on the machine supplies the
// exit code and stderr that child would have had ("cannot reach the agent").
import type { ChildProcess } from "node:child_process";
import { EventEmitter } from "node:events";
import { createConnection, type Socket } from "node:net";
import { PassThrough } from "node:stream";
import type { AgentStream } from "./types.ts";

/** An exit code and stderr standing for why the channel ended. */
export interface Ending {
  code: number | null;
  stderr: string;
}

/** Thrown by an opener that knows why it failed (ssh's own exit and stderr): no check needed. */
export class OpenFailed extends Error {
  constructor(readonly ending: Ending) {
    super(ending.stderr.trim() || `exit ${ending.code}`);
  }
}

/** Connects to a unix socket; rejects with the errno error (ENOENT, ECONNREFUSED, EACCES). */
export function connectUnix(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const sock = createConnection(path);
    sock.once("connect", () => {
      sock.off("error", reject);
      resolve(sock);
    });
    sock.once("error", reject);
  });
}

class SocketChannel extends EventEmitter implements AgentStream {
  readonly stdin = new PassThrough();
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();
  private answered = false;
  private done = false;
  /** What was written before the first answer: sent again through the fallback. */
  private readonly unanswered: Buffer[] = [];

  constructor(
    open: () => Promise<Socket>,
    private readonly check: () => Promise<Ending>,
    private readonly fallback?: () => ChildProcess,
  ) {
    super();
    open().then(
      (sock) => {
        // Both from the same moment: what stdin held until now goes to the socket and into the record.
        this.stdin.on("data", (b: Buffer) => void (this.answered || this.unanswered.push(b)));
        this.stdin.pipe(sock);
        sock.on("data", (b: Buffer) => {
          this.answered = true;
          this.stdout.write(b);
        });
        let failed = false;
        sock.on("error", () => (failed = true));
        // A forward whose far end cannot connect (no agent) accepts, then closes with nothing said. So does one
        // the ssh server refuses (AllowStreamLocalForwarding no): then the agent answers a check, and the
        // fallback carries the channel instead.
        sock.on("close", () => {
          this.stdin.unpipe(sock);
          if (failed || !this.answered) void this.silent();
          else void this.finish(undefined);
        });
      },
      (e: unknown) => void (e instanceof OpenFailed ? this.finish(async () => e.ending) : this.silent()),
    );
  }

  /** The channel ended before any answer: the agent is down (the check says why), or the forward was refused. */
  private async silent(): Promise<void> {
    const ending = await this.check().catch((e: Error): Ending => ({ code: 1, stderr: e.message }));
    const asked = this.unanswered.length > 0 || this.stdin.readableLength > 0;
    if (ending.code === 0 && this.fallback && asked && !this.done) return this.through(this.fallback());
    return this.finish(async () => ending);
  }

  /** Carries the rest of the channel over a `skiff-agent connect` child, starting with what went unanswered. */
  private through(child: ChildProcess): void {
    for (const b of this.unanswered) child.stdin!.write(b);
    this.stdin.pipe(child.stdin!);
    child.stdin!.on("error", () => {});
    child.stdout!.once("data", () => (this.answered = true));
    child.stdout!.pipe(this.stdout);
    child.stderr!.pipe(this.stderr);
    child.on("close", (code) => {
      this.done = true;
      setImmediate(() => this.emit("close", code));
    });
  }

  private async finish(why: (() => Promise<Ending>) | undefined): Promise<void> {
    if (this.done) return;
    this.done = true;
    const ending = why ? await why().catch((e: Error): Ending => ({ code: 1, stderr: e.message })) : { code: 0, stderr: "" };
    if (ending.stderr) this.stderr.write(ending.stderr);
    this.stdout.end();
    this.stderr.end();
    // After the streams' last data is read, like a child's "close".
    setImmediate(() => this.emit("close", ending.code));
  }
}

/** A channel over the socket `open` connects; `check` explains an end before any answer; when the check finds the
 *  agent well, `fallback` (a `skiff-agent connect` child) carries the channel instead. */
export function socketChannel(open: () => Promise<Socket>, check: () => Promise<Ending>, fallback?: () => ChildProcess): AgentStream {
  return new SocketChannel(open, check, fallback);
}
