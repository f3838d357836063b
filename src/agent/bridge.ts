// `skiff-agent connect`: joins this process's stdio to the agent's socket, so
// an ssh session becomes an RPC channel. `skiff-agent call METHOD` is the
// one-shot form, for scripts and the setup probe.
import { createConnection } from "node:net";
import { encode, lineReader, type Response } from "../contracts/protocol.ts";

export function connect(path: string): void {
  const sock = createConnection(path);
  sock.on("error", (e) => {
    process.stderr.write(`skiff-agent: cannot reach the agent at ${path}: ${(e as NodeJS.ErrnoException).code ?? e.message}\n`);
    process.exit(3);
  });
  process.stdin.pipe(sock);
  sock.pipe(process.stdout);
  sock.on("close", () => process.exit(0));
  process.stdin.on("end", () => sock.end());
}

export function call(path: string, method: string, params: unknown, timeoutMs = 5000): void {
  const sock = createConnection(path);
  const timer = setTimeout(() => {
    process.stderr.write(`skiff-agent: no answer to ${method} within ${timeoutMs} ms\n`);
    process.exit(4);
  }, timeoutMs);
  sock.on("error", (e) => {
    process.stderr.write(`skiff-agent: cannot reach the agent at ${path}: ${(e as NodeJS.ErrnoException).code ?? e.message}\n`);
    process.exit(3);
  });
  sock.on(
    "data",
    lineReader((v) => {
      const res = v as Response;
      clearTimeout(timer);
      if ("error" in res) {
        process.stderr.write(`skiff-agent: ${res.error.message}\n`);
        process.exit(1);
      }
      process.stdout.write(JSON.stringify(res.result) + "\n");
      sock.end();
    }),
  );
  sock.write(encode({ id: 1, method, params }));
}
