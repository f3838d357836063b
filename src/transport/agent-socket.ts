// The agent's unix socket reached with no process started on the machine for
// it: directly (the `local` machine, as root) or through a forward of the ssh
// connection (agent-forward.ts). It is dressed as the `skiff-agent connect`
// child it replaces, so AgentClient reads answers and failures the same way:
// when the socket ends before any answer, a check on the machine supplies the
// exit code and stderr that child would have had ("cannot reach the agent").
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

  constructor(open: () => Promise<Socket>, check: () => Promise<Ending>) {
    super();
    open().then(
      (sock) => {
        this.stdin.pipe(sock);
        sock.on("data", (b: Buffer) => {
          this.answered = true;
          this.stdout.write(b);
        });
        let failed = false;
        sock.on("error", () => (failed = true));
        // A forward whose far end cannot connect (no agent) accepts, then closes with nothing said.
        sock.on("close", () => void this.finish(failed || !this.answered ? check : undefined));
      },
      (e: unknown) => void this.finish(e instanceof OpenFailed ? async () => e.ending : check),
    );
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

/** A channel over the socket `open` connects; `check` explains an end before any answer. */
export function socketChannel(open: () => Promise<Socket>, check: () => Promise<Ending>): AgentStream {
  return new SocketChannel(open, check);
}
