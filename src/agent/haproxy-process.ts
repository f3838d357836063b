// The HAProxy process on this machine: is it running, start it, reload it
// seamlessly (the new process takes the listening sockets over with -x), check
// a config file, soft-stop it. Nothing here knows backends or slots.
import { execFile } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { promisify } from "node:util";
import type { ProxyPaths as ConfigPaths } from "../proxy/config.ts";

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Where the agent keeps HAProxy's files (`dir`), plus what haproxy.cfg names (proxy/config.ts). */
export interface ProxyPaths extends ConfigPaths {
  dir: string;
}

/** HAProxy runs as `haproxy` in a chroot where the machine has both (Debian's haproxy package makes them) and the
 *  agent is root; elsewhere (a developer's `local` machine) it stays as it is started. */
export function haproxyPrivileges(sys: { read: (path: string) => string; isDir: (path: string) => boolean; uid: number | undefined } = { read: (p) => readFileSync(p, "utf8"), isDir: (p) => existsSync(p), uid: process.getuid?.() }): Pick<ProxyPaths, "user" | "group" | "chroot"> {
  const has = (file: string, name: string) => {
    try {
      return sys.read(file).split("\n").some((l) => l.startsWith(`${name}:`));
    } catch {
      return false;
    }
  };
  if (sys.uid !== 0 || !has("/etc/passwd", "haproxy") || !has("/etc/group", "haproxy") || !sys.isDir("/var/lib/haproxy")) return {};
  return { user: "haproxy", group: "haproxy", chroot: "/var/lib/haproxy" };
}

/** What the proxy controller needs of the process (an in-memory one in tests). */
export interface HaproxyControl {
  /** Running, with its runtime socket in place (what a sync can talk to). */
  reachable(): boolean;
  running(): boolean;
  /** Starts HAProxy from this config file when it is not running, or reloads it seamlessly when it is. */
  startOrReload(cfgPath: string): Promise<void>;
  /** Rejects a config file HAProxy would refuse. */
  check(cfgPath: string): Promise<void>;
  softStop(): void;
}

export class HaproxyProcess implements HaproxyControl {
  constructor(
    private readonly paths: Pick<ProxyPaths, "pidFile" | "statsSocket">,
    private readonly api: { info(timeoutMs: number): Promise<string> },
  ) {}

  private pid(): number | undefined {
    try {
      const pid = Number(readFileSync(this.paths.pidFile, "utf8").trim().split("\n")[0]);
      if (!pid) return undefined;
      process.kill(pid, 0);
      return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("haproxy") ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  running(): boolean {
    return this.pid() !== undefined;
  }

  reachable(): boolean {
    return this.running() && existsSync(this.paths.statsSocket);
  }

  async startOrReload(cfgPath: string): Promise<void> {
    const old = this.pid();
    const args = ["-D", "-f", cfgPath, "-p", this.paths.pidFile];
    // -x takes the listening sockets over from the old process: no connection is refused.
    await this.haproxy(old ? [...args, "-x", this.paths.statsSocket, "-sf", String(old)] : args);
    await this.waitSocket();
  }

  async check(cfgPath: string): Promise<void> {
    try {
      await run("haproxy", ["-c", "-q", "-f", cfgPath]);
    } catch (e) {
      throw new Error(`generated haproxy.cfg is invalid: ${(e as { stderr?: string }).stderr ?? String(e)}`);
    }
  }

  /** Soft stop: open connections finish. A soft-stopping HAProxy may linger (idle keep-alive clients get their next
   *  answer with Connection: close) with its listeners and runtime socket already closed: it is not "the running
   *  HAProxy" any more, so the next app starts a new one instead of taking sockets over from it. */
  softStop(): void {
    const pid = this.pid();
    if (pid) process.kill(pid, "SIGUSR1");
    rmSync(this.paths.pidFile, { force: true });
  }

  /** Runs haproxy; a port that something else holds becomes an error that says so. */
  private async haproxy(args: string[]): Promise<void> {
    try {
      await run("haproxy", args);
    } catch (e) {
      const err = ((e as { stderr?: string }).stderr ?? (e as Error).message).trim();
      const port = /cannot bind socket.*?:(\d+)\]/i.exec(err)?.[1];
      if (port) throw new Error(`HAProxy cannot listen on port ${port}: something else on this machine uses it (stop it, or set http_port for this machine in skiff.yml)`);
      throw new Error(`HAProxy did not start: ${err.split("\n").slice(-3).join(" / ")}`);
    }
  }

  private async waitSocket(): Promise<void> {
    for (let i = 0; i < 100; i++) {
      try {
        await this.api.info(1000);
        return;
      } catch {
        await sleep(50);
      }
    }
    throw new Error("HAProxy did not open its runtime socket within 5 s");
  }
}
