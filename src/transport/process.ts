// Runs one local process to completion with stdin and a timeout. Both transports use it.
import { spawn, type SpawnOptions } from "node:child_process";
import { UserError } from "../errors.ts";
import type { RunResult } from "./types.ts";

/** `background`: the process does not keep this one alive (a head start nobody may need: cli/prewarm.ts) until
 *  the function it is handed is called. */
export function runProcess(file: string, args: readonly string[], opts: { stdin?: string | Buffer; timeoutMs?: number; env?: NodeJS.ProcessEnv; cwd?: string; background?: (ref: () => void) => void } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const spawnOpts: SpawnOptions = { stdio: [opts.stdin === undefined ? "ignore" : "pipe", "pipe", "pipe"], env: opts.env ?? process.env, cwd: opts.cwd };
    const child = spawn(file, args as string[], spawnOpts);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    if (opts.timeoutMs) {
      timer = setTimeout(() => {
        timedOut = true;
        child.kill("SIGTERM");
      }, opts.timeoutMs);
    }
    if (opts.background) {
      const handles = [child, child.stdout as unknown as { ref(): void; unref(): void }, child.stderr as unknown as { ref(): void; unref(): void }, ...(timer ? [timer] : [])];
      for (const h of handles) h.unref();
      opts.background(() => handles.forEach((h) => h.ref()));
    }
    child.stdout!.on("data", (b: Buffer) => out.push(b));
    child.stderr!.on("data", (b: Buffer) => err.push(b));
    child.on("error", (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (e.code === "ENOENT") reject(new UserError(`${file} is not installed or not on PATH`, { hint: file === "ssh" ? "install the OpenSSH client (apt-get install openssh-client)" : undefined }));
      else reject(e);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const stderr = Buffer.concat(err).toString("utf8") + (timedOut ? `\n(timed out after ${opts.timeoutMs} ms)` : "");
      resolve({ stdout: Buffer.concat(out).toString("utf8"), stderr, code: timedOut ? 124 : code, signal: timedOut ? null : signal });
    });
    if (opts.stdin !== undefined) {
      child.stdin!.on("error", () => {}); // the command may exit without reading all of it
      child.stdin!.end(opts.stdin);
    }
  });
}
