// `logs.read`: a page of kept log lines. Reading many megabytes or running a
// regex over them happens in a child process (the same agent file, on Node
// with its JIT: the agent itself runs --jitless, and must keep answering
// health checks meanwhile); a follow's next few lines without a regex are
// read in the agent itself.
import { spawn } from "node:child_process";
import type { LogPage, LogQuery } from "../contracts/logs.ts";
import { scanLogs } from "./log-scan.ts";

/** In the agent: at most this much read per answer; the caller asks again while `more`. */
const IN_PROCESS_BUDGET = 8 * 1024 * 1024;
const CHILD_TIMEOUT_MS = 10 * 60_000;

export function readLogs(root: string, agentFile: string, q: LogQuery): Promise<LogPage> {
  if (q.endOnly || (q.after && q.grep === undefined && q.tail === undefined)) return Promise.resolve(scanLogs(root, q, IN_PROCESS_BUDGET));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--max-old-space-size=256", agentFile, "logs-scan"], { stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    let err = "";
    const timer = setTimeout(() => child.kill("SIGKILL"), CHILD_TIMEOUT_MS);
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => (err += b.toString()));
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`reading logs failed (${signal ?? `exit ${code}`}): ${err.trim().split("\n").at(-1) ?? ""}`));
      try {
        resolve(JSON.parse(Buffer.concat(out).toString("utf8")) as LogPage);
      } catch (e) {
        reject(e as Error);
      }
    });
    child.stdin.end(JSON.stringify({ root, q }));
  });
}

/** `skiff-agent logs-scan`: the child's side (query on stdin, page on stdout). */
export async function scanMain(): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  const { root, q } = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { root: string; q: LogQuery };
  process.stdout.write(JSON.stringify(scanLogs(root, q)));
}
