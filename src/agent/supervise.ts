// Where systemd does not run, `skiff-agent supervise` keeps `serve` alive:
// restart on exit with backoff (1 s doubling to 30 s, reset after a minute up).
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function supervise(pidFile: string, serveArgv: string[], log: (s: string) => void): void {
  if (existsSync(pidFile)) {
    const pid = Number(readFileSync(pidFile, "utf8").trim());
    if (pid && pid !== process.pid && alive(pid)) {
      log(`already supervised by pid ${pid}`);
      process.exit(0);
    }
  }
  mkdirSync(dirname(pidFile), { recursive: true, mode: 0o700 });
  writeFileSync(pidFile, `${process.pid}\n`);

  let child: ChildProcess | undefined;
  let delay = 1000;
  let stopping = false;
  const start = () => {
    const began = Date.now();
    child = spawn(process.execPath, serveArgv, { stdio: "inherit" });
    child.on("exit", (code, signal) => {
      if (stopping) return;
      if (Date.now() - began > 60_000) delay = 1000;
      log(`agent exited (${signal ?? code}); restarting in ${delay} ms`);
      setTimeout(start, delay);
      delay = Math.min(delay * 2, 30_000);
    });
  };
  const stop = () => {
    stopping = true;
    try {
      unlinkSync(pidFile);
    } catch {}
    if (child && child.exitCode === null) {
      child.once("exit", () => process.exit(0));
      child.kill("SIGTERM");
      // Never leave an agent behind: a second one would supervise the same instances.
      setTimeout(() => {
        child?.kill("SIGKILL");
        process.exit(0);
      }, 5000).unref();
    } else process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  start();
}
