import { readFileSync } from "node:fs";
import { HOSTS_FILE, hostsBlockNames } from "../lib/hosts-block.ts";
import { cgroupDirsFromProc } from "./cgroup-stats.ts";
import { DockerApi, DockerError } from "./docker-api.ts";
import { bridgeGateway } from "./docker-bridge.ts";
import { DockerWatch } from "./docker-watch.ts";
import type { InstanceStatus, Runtime, StartSpec } from "./types.ts";

const LOG_CONFIG = { Type: "json-file", Config: { "max-size": "10m", "max-file": "3" } };

/** A named volume per project, app and name: `skiff-<project>-<app>-<name>`, kept across releases. */
export const volumeName = (labels: Record<string, string>, name: string) => `skiff-${labels["skiff.project"]}-${labels["skiff.app"]}-${name}`;

/** The machine's internal names (skiff's block in its hosts file) for a container's own /etc/hosts, at the host as
 *  the container reaches it: the bridge's gateway, where the internal frontend listens too (Docker's
 *  `host-gateway` when the Engine did not say). Read when the container is made: a name that comes later reaches
 *  it at its next start (a deploy). */
export function containerHosts(gateway: string | null | undefined, hostsFile = HOSTS_FILE): string[] {
  let text = "";
  try {
    text = readFileSync(hostsFile, "utf8");
  } catch {}
  return [...hostsBlockNames(text).keys()].map((n) => `${n}:${gateway ?? "host-gateway"}`);
}

/** Instances as Docker containers, through the Engine API. A running container's status is inspected once while
 *  the Engine's event stream says nothing happened to it (docker-watch.ts). */
export class DockerRuntime implements Runtime {
  constructor(
    private readonly api = new DockerApi(),
    readonly watch = new DockerWatch(api.socketPath),
  ) {}

  /** A state event (or the stream's loss) tells `onExit` of every container known to run: they are looked at again. */
  watchExits(onExit: (name: string) => void): void {
    this.watch.onForget = (names) => names.forEach(onExit);
  }

  /** While the event stream is open and the container was seen running since the last event. */
  exitsWatched(name: string): boolean {
    return this.watch.onForget !== undefined && this.watch.known(name) !== undefined;
  }

  /** Runs one of the agent's own changes to a container; what was known of running containers is stale after it. */
  private async change<T>(f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } finally {
      this.watch.forget();
    }
  }

  /**
   * A container asked to listen on loopback is published on the bridge's gateway instead (still an address of this
   * machine alone: nothing routes it from outside, and the firewall guards it on every port). On 127.0.0.1 the
   * Engine's userland proxy (docker-proxy) would stand between HAProxy and the container: it accepts a connection
   * even while the container is dying, then closes it without an answer, which HAProxy passed on to clients as
   * closed connections (deploy.test: 15 of 3331 requests failed when a machine's instances all died at once; 0 since). On the
   * gateway the kernel forwards straight to the container (Docker's DNAT for local traffic), and a dead one
   * refuses at once, which HAProxy retries elsewhere.
   */
  async publishAddress(bind: string): Promise<string> {
    if (!bind.startsWith("127.")) return bind;
    return (await bridgeGateway(this.api)) ?? bind;
  }

  async volumePath(project: string, app: string, name: string): Promise<string> {
    const v = volumeName({ "skiff.project": project, "skiff.app": app }, name);
    return (await this.api.json<{ Mountpoint: string }>("GET", `/volumes/${encodeURIComponent(v)}`)).Mountpoint;
  }

  start(s: StartSpec): Promise<void> {
    return this.change(() => this.create(s));
  }

  private async create(s: StartSpec): Promise<void> {
    const port = `${s.containerPort}/tcp`;
    const extraHosts = containerHosts(await bridgeGateway(this.api));
    await this.api.json("POST", `/containers/create?name=${encodeURIComponent(s.name)}`, {
      Image: s.image,
      Env: Object.entries({ PORT: String(s.containerPort), ...s.env }).map(([k, v]) => `${k}=${v}`),
      Labels: s.labels,
      ...(s.stopSignal ? { StopSignal: s.stopSignal } : {}),
      ...(s.oneOff ? { Entrypoint: ["/bin/sh", "-c"], Cmd: [s.command ?? "true"] } : { ExposedPorts: { [port]: {} } }),
      ...(s.attach ? { Tty: s.attach.tty, OpenStdin: s.attach.stdin, StdinOnce: s.attach.stdin, AttachStdin: s.attach.stdin, AttachStdout: true, AttachStderr: true } : {}),
      HostConfig: {
        ...(s.oneOff ? {} : { PortBindings: { [port]: [{ HostIp: s.bindAddress, HostPort: String(s.hostPort) }] } }),
        ...(s.files?.length ? { Binds: s.files.map((f) => `${f.hostPath}:${f.path}:ro`) } : {}),
        ...(s.volumes?.length ? { Mounts: s.volumes.map((v) => ({ Type: "volume", Source: volumeName(s.labels, v.name), Target: v.path })) } : {}),
        // The agent restarts instances itself (with backoff, out of traffic first).
        RestartPolicy: { Name: "no" },
        ...(extraHosts.length ? { ExtraHosts: extraHosts } : {}),
        LogConfig: LOG_CONFIG,
        Init: true,
        ...(s.limits?.memoryBytes ? { Memory: s.limits.memoryBytes, MemorySwap: s.limits.memoryBytes } : {}),
        ...(s.limits?.cpus ? { NanoCpus: Math.round(s.limits.cpus * 1e9) } : {}),
      },
    });
    // One to attach to is started by `docker start -a`, so not a byte of its output goes unseen.
    if (!s.attach) await this.api.json("POST", `/containers/${encodeURIComponent(s.name)}/start`);
  }

  async restart(name: string): Promise<void> {
    await this.change(() => this.api.json("POST", `/containers/${encodeURIComponent(name)}/start`));
  }

  stop(name: string, timeoutS: number): Promise<void> {
    return this.change(async () => {
      try {
        await this.api.json("POST", `/containers/${encodeURIComponent(name)}/stop?t=${timeoutS}`, undefined, (timeoutS + 30) * 1000);
      } catch (e) {
        if (!(e instanceof DockerError && (e.status === 304 || e.status === 404))) throw e;
      }
    });
  }

  remove(name: string): Promise<void> {
    return this.change(async () => {
      try {
        await this.api.json("DELETE", `/containers/${encodeURIComponent(name)}?force=1`);
      } catch (e) {
        if (!(e instanceof DockerError && e.status === 404)) throw e;
      }
    });
  }

  async status(name: string): Promise<InstanceStatus> {
    const known = this.watch.known(name);
    if (known) return { ...known };
    const mark = this.watch.mark();
    const s = await this.inspect(name);
    this.watch.remember(name, s, mark);
    return s;
  }

  private async inspect(name: string): Promise<InstanceStatus> {
    try {
      const c = await this.api.json<{ State: { Running: boolean; ExitCode: number; OOMKilled: boolean; StartedAt: string; FinishedAt: string; Status: string } }>("GET", `/containers/${encodeURIComponent(name)}/json`);
      const exited = !c.State.Running && c.State.Status !== "created";
      return { exists: true, running: c.State.Running, exitCode: exited ? c.State.ExitCode : null, oomKilled: c.State.OOMKilled, startedAt: c.State.StartedAt, finishedAt: exited ? c.State.FinishedAt : undefined };
    } catch (e) {
      if (e instanceof DockerError && e.status === 404) return { exists: false, running: false, exitCode: null, oomKilled: false };
      throw e;
    }
  }

  /** The container's cgroups, from its main process (only those named after the container: never the machine's). */
  async cgroupDirs(name: string): Promise<string[]> {
    try {
      const c = await this.api.json<{ Id: string; State: { Pid: number } }>("GET", `/containers/${encodeURIComponent(name)}/json`);
      if (!c.State.Pid) return [];
      return cgroupDirsFromProc(readFileSync(`/proc/${c.State.Pid}/cgroup`, "utf8")).filter((d) => d.includes(c.Id));
    } catch {
      return [];
    }
  }

  logs(name: string, lines: number): Promise<string> {
    return this.api.logs(name, lines);
  }

  async list(labels: Record<string, string>): Promise<string[]> {
    const filters = JSON.stringify({ label: Object.entries(labels).map(([k, v]) => `${k}=${v}`) });
    const rows = await this.api.json<{ Names: string[] }[]>("GET", `/containers/json?all=1&filters=${encodeURIComponent(filters)}`);
    return rows.map((r) => r.Names[0]!.replace(/^\//, ""));
  }

  async hasImage(image: string): Promise<boolean> {
    return (await this.api.imageId(image)) !== undefined;
  }

  imageId(ref: string): Promise<string | undefined> {
    return this.api.imageId(ref);
  }

  async removeImage(image: string): Promise<void> {
    await this.api.json("DELETE", `/images/${encodeURIComponent(image)}`);
  }
}
