// The agent's RPC server on a unix socket (0600, root only). No network port:
// the CLI reaches it through ssh and `skiff-agent connect`.
import { chmodSync, existsSync, mkdirSync, unlinkSync } from "node:fs";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { dirname } from "node:path";
import type { Handler } from "./handlers.ts";
import { encode, lineReader, type Request } from "../contracts/protocol.ts";

export function serveConnection(sock: Socket, table: Record<string, Handler>): void {
  sock.on("error", () => {});
  sock.on(
    "data",
    lineReader(
      async (v) => {
        const req = v as Request;
        if (typeof req?.id !== "number" || typeof req.method !== "string") return;
        const handler = table[req.method];
        if (!handler) return sock.write(encode({ id: req.id, error: { message: `unknown method ${req.method}`, code: "ENOMETHOD" } }));
        try {
          sock.write(encode({ id: req.id, result: await handler(req.params) }));
        } catch (e) {
          // The errno code (ENOSPC, EACCES…) lets the CLI say what is wrong on the machine, not just that it failed.
          const code = (e as NodeJS.ErrnoException).code;
          sock.write(encode({ id: req.id, error: { message: (e as Error).message, ...(typeof code === "string" ? { code } : {}) } }));
        }
      },
      (line) => sock.write(encode({ id: -1, error: { message: `not JSON: ${line.slice(0, 80)}` } })),
    ),
  );
}

/** Listens on `path`, replacing a stale socket left by a dead agent (but not a live one). */
export async function listen(path: string, table: Record<string, Handler>): Promise<Server> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  if (existsSync(path)) {
    const alive = await new Promise<boolean>((resolve) => {
      const c = createConnection(path, () => (c.end(), resolve(true)));
      c.on("error", () => resolve(false));
    });
    if (alive) throw new Error(`another agent is already listening on ${path}`);
    unlinkSync(path);
  }
  const server = createServer((sock) => serveConnection(sock, table));
  const old = process.umask(0o177);
  await new Promise<void>((resolve, reject) => server.listen(path, resolve).once("error", reject));
  process.umask(old);
  chmodSync(path, 0o600);
  return server;
}
