// The agent owns its machine's HAProxy: the process, haproxy.cfg (always a
// mirror of the live state, so a restart comes back identical) and every
// switch, made through the Runtime API without a reload. A reload (seamless,
// listening sockets handed over with -x) happens only when backends change.
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { logTargetProblem, renderConfig } from "../proxy/config.ts";
import { MIN_BACKUP_SLOTS, MIN_PEER_SLOTS, MIN_SLOTS, routeConflicts, type ProxyBackend, type ProxyState, type Slot } from "../proxy/model.ts";
import { RuntimeApi } from "../proxy/runtime-api.ts";
import { writeAtomic } from "./atomic-write.ts";

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface ProxyPaths {
  dir: string;
  statsSocket: string;
  pidFile: string;
  logTarget?: string;
  /** HAProxy drops root for this user and group after binding, and chroots (see haproxyPrivileges). */
  user?: string;
  group?: string;
  chroot?: string;
}

/** The first line of haproxy.cfg carries the state it was rendered from: a damaged state.json is rebuilt from it. */
const STATE_LINE = "# skiff-proxy-state ";

/** Peer slots of one kind: primary (pN, traffic while this machine runs none of the app) or backup (qN). */
export const peerSlots = (b: ProxyBackend, kind: "primary" | "backup") => b.slots.filter((s) => s.peer && Boolean(s.backup) === (kind === "backup"));

/** Adds peer slots of a kind up to `count`; returns how many were added. */
export function addPeerSlots(b: ProxyBackend, kind: "primary" | "backup", count: number): number {
  const have = peerSlots(b, kind).length;
  for (let i = have; i < count; i++) b.slots.push({ name: `${kind === "backup" ? "q" : "p"}${i + 1}`, addr: "127.0.0.1", port: 1, state: "maint", peer: true, backup: kind === "backup" || undefined });
  return Math.max(0, count - have);
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

/** A parsed state file, checked for the shape the controller relies on. */
function validState(v: unknown): ProxyState {
  const s = v as ProxyState;
  if (!s || typeof s !== "object" || !Array.isArray(s.backends) || !s.backends.every((b) => b && typeof b.name === "string" && Array.isArray(b.slots) && Array.isArray(b.routes))) throw new Error("not a proxy state");
  return s;
}

export class ProxyController {
  readonly api: RuntimeApi;
  private state: ProxyState;
  private chain: Promise<unknown> = Promise.resolve();
  private saidLogProblem = false;

  constructor(
    private readonly paths: ProxyPaths,
    httpPort: number,
    private readonly log: (s: string) => void = () => {},
  ) {
    mkdirSync(paths.dir, { recursive: true });
    this.api = new RuntimeApi(paths.statsSocket);
    const saved = this.readState();
    this.state = { httpPort: saved?.httpPort ?? httpPort, backends: saved?.backends ?? [] };
    // Peer slots that take over while every local instance is down (a restart), for backends saved before they existed.
    for (const b of this.state.backends) addPeerSlots(b, "backup", peerSlots(b, "primary").length);
  }

  private get cfgPath() {
    return join(this.paths.dir, "haproxy.cfg");
  }
  private get statePath() {
    return join(this.paths.dir, "state.json");
  }

  /** The saved state; a damaged or missing state.json is reported and the state comes from haproxy.cfg's first line
   *  instead (a missing one taken for a new machine would make the next reload drop every other app's backend). */
  private readState(): ProxyState | undefined {
    let text: string | undefined;
    try {
      text = readFileSync(this.statePath, "utf8");
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT" && !existsSync(this.cfgPath)) return undefined; // never saved: a new machine
      this.log(`proxy: ${this.statePath} is ${code === "ENOENT" ? "missing" : `unreadable (${code})`}; rebuilding the proxy state from ${this.cfgPath}`);
    }
    if (text !== undefined) {
      try {
        return validState(JSON.parse(text));
      } catch (e) {
        this.log(`proxy: ${this.statePath} is damaged (${(e as Error).message}); rebuilding the proxy state from ${this.cfgPath}`);
      }
    }
    try {
      const line = readFileSync(this.cfgPath, "utf8").split("\n").find((l) => l.startsWith(STATE_LINE));
      if (!line) throw new Error("it carries no saved state");
      return validState(JSON.parse(line.slice(STATE_LINE.length)));
    } catch (e) {
      this.log(`proxy: cannot rebuild from ${this.cfgPath} either (${(e as Error).message}); starting with no backends: each app's next activation adds its own again`);
      return undefined;
    }
  }

  snapshot(): ProxyState {
    return structuredClone(this.state);
  }

  /** One proxy change at a time. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => {});
    return next;
  }

  /** Writes haproxy.cfg and the state it came from. HAProxy checks the file when its structure
   *  changes (before a start or reload); a slot change only alters addresses and states. */
  private async persist(opts: { validate?: boolean } = {}): Promise<void> {
    const logProblem = logTargetProblem(this.paths);
    if (logProblem && !this.saidLogProblem) {
      this.saidLogProblem = true;
      this.log(`proxy: ${logProblem}`);
    }
    const text = `${STATE_LINE}${JSON.stringify(this.state)}\n${renderConfig(this.state, this.paths)}`;
    const tmp = `${this.cfgPath}.new`;
    writeAtomic(tmp, text);
    if (opts.validate) {
      try {
        await run("haproxy", ["-c", "-q", "-f", tmp]);
      } catch (e) {
        rmSync(tmp, { force: true });
        throw new Error(`generated haproxy.cfg is invalid: ${(e as { stderr?: string }).stderr ?? String(e)}`);
      }
    }
    renameSync(tmp, this.cfgPath);
    writeAtomic(this.statePath, JSON.stringify(this.state, null, 2));
  }

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

  /** Starts HAProxy from the mirrored config when it is not running. */
  ensureRunning(): Promise<void> {
    return this.serial(async () => {
      if (this.pid()) return;
      await this.persist({ validate: true });
      this.log("starting HAProxy");
      await this.haproxy(["-D", "-f", this.cfgPath, "-p", this.paths.pidFile]);
      await this.waitSocket();
    });
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

  private async reload(): Promise<void> {
    await this.persist({ validate: true });
    const old = this.pid();
    if (!old) {
      await this.haproxy(["-D", "-f", this.cfgPath, "-p", this.paths.pidFile]);
    } else {
      // -x takes the listening sockets over from the old process: no connection is refused.
      await this.haproxy(["-D", "-f", this.cfgPath, "-p", this.paths.pidFile, "-x", this.paths.statsSocket, "-sf", String(old)]);
    }
    await this.waitSocket();
  }

  /** Makes sure a backend exists with these routes and enough free slots; reloads only when that changes. */
  ensureBackend(name: string, opts: { routes: ProxyBackend["routes"]; healthPath: string; intervalMs: number; timeoutMs?: number; freeSlots: number; httpPort?: number }): Promise<void> {
    return this.serial(async () => {
      const clash = routeConflicts(this.state, name, opts.routes, opts.httpPort);
      if (clash.length) {
        const c = clash[0]!;
        throw new Error(`route ${c.route.host ?? "*"}${c.route.path} on port ${opts.httpPort ?? this.state.httpPort} is already served by ${c.owner.replace(/^skiff_/, "")} on this machine; give one of them a host (routes: [{ host: … }]) or another http_port`);
      }
      const before = structuredClone(this.state);
      let b = this.state.backends.find((x) => x.name === name);
      let changed = false;
      if (!b) {
        b = { name, routes: opts.routes, healthPath: opts.healthPath, intervalMs: opts.intervalMs, timeoutMs: opts.timeoutMs, slots: [] };
        this.state.backends.push(b);
        changed = true;
      }
      if (JSON.stringify(b.routes) !== JSON.stringify(opts.routes) || b.healthPath !== opts.healthPath || b.intervalMs !== opts.intervalMs || b.timeoutMs !== opts.timeoutMs || b.httpPort !== opts.httpPort) {
        Object.assign(b, { routes: opts.routes, healthPath: opts.healthPath, intervalMs: opts.intervalMs, timeoutMs: opts.timeoutMs, httpPort: opts.httpPort });
        changed = true;
      }
      // Peer slots for the app's instances on other machines, made now so that setting peers never reloads.
      if (addPeerSlots(b, "primary", MIN_PEER_SLOTS) + addPeerSlots(b, "backup", MIN_PEER_SLOTS)) changed = true;
      // Primary slots for the incoming release, backup slots for the outgoing one.
      for (const backup of [false, true]) {
        const mine = b.slots.filter((s) => !s.peer && Boolean(s.backup) === backup);
        const free = mine.filter((s) => !s.instance).length;
        const want = Math.max(backup ? MIN_BACKUP_SLOTS : MIN_SLOTS, mine.length + Math.max(0, opts.freeSlots - free));
        for (let i = mine.length; i < want; i++) {
          b.slots.push({ name: `${backup ? "b" : "s"}${i + 1}`, addr: "127.0.0.1", port: 1, state: "maint", backup: backup || undefined });
          changed = true;
        }
      }
      if (changed) {
        this.log(`proxy: backend ${name} changed, reloading HAProxy`);
        try {
          await this.reload();
        } catch (e) {
          // HAProxy kept running with the old file; the state and the file go back to match it.
          this.state = before;
          await this.persist().catch(() => {});
          throw e;
        }
      }
    });
  }

  private backend(name: string): ProxyBackend {
    const b = this.state.backends.find((x) => x.name === name);
    if (!b) throw new Error(`no proxy backend ${name}`);
    return b;
  }

  slotOf(backend: string, instance: string, backup = false): Slot | undefined {
    return this.slotsOf(backend, instance, backup ? "backup" : "primary")[0];
  }

  /** Puts an instance into a free (primary or backup) slot and waits until HAProxy's own check says UP. */
  enable(backend: string, instance: string, addr: string, port: number, opts: { backup?: boolean; timeoutMs?: number } = {}): Promise<string> {
    const backup = Boolean(opts.backup);
    const timeoutMs = opts.timeoutMs ?? 10_000;
    return this.serial(async () => {
      const b = this.backend(backend);
      let slot = this.slotOf(backend, instance, backup);
      if (!slot) {
        slot = b.slots.find((s) => !s.instance && !s.peer && Boolean(s.backup) === backup);
        if (!slot) throw new Error(`no free slot in ${backend}`);
        // Never re-address a live slot: keep-alive clients would stay on the old server.
        await this.api.setState(backend, slot.name, "maint");
        await this.api.setAddr(backend, slot.name, addr, port);
        Object.assign(slot, { addr, port, instance, state: "maint" });
      }
      await this.api.setState(backend, slot.name, "ready");
      if (!(await this.waitUp(backend, [slot.name], timeoutMs))) {
        await this.api.setState(backend, slot.name, "maint");
        throw new Error(`HAProxy did not see ${instance} as UP within ${timeoutMs} ms (its health check fails)`);
      }
      slot.state = "ready";
      await this.persist();
      return slot.name;
    });
  }

  /** Stops new requests to an instance, waits for its open sessions to finish (up to timeoutMs), then takes it out.
   *  Only the state changes are serialized, so several instances drain at once. */
  async drainAndRemove(backend: string, instance: string, timeoutMs: number): Promise<{ waitedMs: number; leftSessions: number }> {
    const slot = await this.serial(async () => {
      const s = this.slotOf(backend, instance, false);
      if (!s) return undefined;
      await this.api.setState(backend, s.name, "drain");
      s.state = "drain";
      return s;
    });
    if (!slot) return { waitedMs: 0, leftSessions: 0 };
    const started = Date.now();
    let left = 0;
    for (;;) {
      // An unreadable answer (HAProxy busy or reloading) is not "drained": ask again until the drain timeout.
      left = await this.api.sessions(backend).then((m) => m.get(slot.name) ?? 0, () => -1);
      if (left === 0 || Date.now() - started > timeoutMs) break;
      await sleep(50);
    }
    await this.release(backend, instance, "primary");
    return { waitedMs: Date.now() - started, leftSessions: Math.max(left, 0) };
  }

  private slotsOf(backend: string, instance: string, which: "primary" | "backup" | "all"): Slot[] {
    const b = this.state.backends.find((x) => x.name === backend);
    return (b?.slots ?? []).filter((s) => s.instance === instance && (which === "all" || (!s.peer && Boolean(s.backup) === (which === "backup"))));
  }

  /** Takes an instance out at once (it is dead or failing); it keeps its slot for when it comes back. */
  disable(backend: string, instance: string): Promise<void> {
    return this.serial(async () => {
      for (const slot of this.slotsOf(backend, instance, "primary")) {
        await this.api.setState(backend, slot.name, "maint");
        slot.state = "maint";
      }
      await this.persist();
    });
  }

  /** Frees an instance's slots (it is out of traffic, or about to stop). */
  release(backend: string, instance: string, which: "primary" | "backup" | "all" = "all"): Promise<void> {
    return this.serial(async () => {
      const slots = this.slotsOf(backend, instance, which);
      if (!slots.length) return;
      for (const slot of slots) {
        await this.api.setState(backend, slot.name, "maint");
        Object.assign(slot, { state: "maint", instance: undefined, port: 1, addr: "127.0.0.1" });
      }
      await this.persist();
    });
  }

  /** The app's instances on other machines, in peer slots: taking traffic (`active`) while this machine runs none of its own.
   *  New peers come in (and, when active, are seen UP) before gone ones go out, so the backend is never empty. */
  setPeers(backend: string, peers: { name: string; addr: string; port: number }[], active: boolean): Promise<void> {
    return this.serial(async () => {
      const b = this.state.backends.find((x) => x.name === backend);
      if (!b) return;
      const wanted = new Map(peers.map((p) => [p.name, p]));
      const keep = (s: Slot) => s.instance !== undefined && wanted.has(s.instance) && wanted.get(s.instance)!.addr === s.addr && wanted.get(s.instance)!.port === s.port;
      const have = peerSlots(b, "primary");
      const incoming = peers.filter((p) => !have.some((s) => keep(s) && s.instance === p.name));
      const free = have.filter((s) => !s.instance).length;
      if (free < incoming.length || peerSlots(b, "backup").length < have.length) {
        // Rare (more than MIN_PEER_SLOTS remote instances): grow with room to spare, so it stays rare.
        const want = Math.max(MIN_PEER_SLOTS, have.length, 2 * (have.length + incoming.length - free));
        addPeerSlots(b, "primary", want);
        addPeerSlots(b, "backup", want);
        this.log(`proxy: backend ${backend} gets peer slots, reloading HAProxy`);
        await this.reload();
      }
      const slots = peerSlots(b, "primary");
      const state = active ? "ready" : "maint";
      const added: Slot[] = [];
      for (const p of incoming) {
        const s = slots.find((x) => !x.instance)!;
        await this.api.setState(backend, s.name, "maint");
        await this.api.setAddr(backend, s.name, p.addr, p.port);
        Object.assign(s, { instance: p.name, addr: p.addr, port: p.port, state: "maint" });
        added.push(s);
      }
      for (const s of slots.filter((x) => x.instance && keep(x) && x.state !== state)) {
        await this.api.setState(backend, s.name, state);
        s.state = state;
      }
      if (active && added.length) {
        for (const s of added) {
          await this.api.setState(backend, s.name, "ready");
          s.state = "ready";
        }
        await this.waitUp(backend, added.map((s) => s.name), 3000);
      }
      // Only now the peers that went away leave (open sessions to them finish: maint takes no new ones).
      for (const s of slots.filter((x) => x.instance && !keep(x) && !added.includes(x))) {
        await this.api.setState(backend, s.name, "maint");
        Object.assign(s, { instance: undefined, state: "maint", addr: "127.0.0.1", port: 1 });
      }
      await this.mirrorBackupPeers(backend, b, active);
      await this.persist();
    });
  }

  /** Backup peer slot qN carries what primary peer slot pN carries; it takes traffic only while this machine has
   *  instances of its own (peers are primary otherwise) and HAProxy finds every one of them down, as after a restart
   *  before they are back. Local instances keep all the traffic while any of them is UP. */
  private async mirrorBackupPeers(backend: string, b: ProxyBackend, active: boolean): Promise<void> {
    const primary = new Map(peerSlots(b, "primary").map((s) => [s.name.slice(1), s]));
    const backups = peerSlots(b, "backup");
    // New addresses first, gone ones last, as for the primary peer slots.
    const order = [...backups].sort((x, y) => Number(!primary.get(x.name.slice(1))?.instance) - Number(!primary.get(y.name.slice(1))?.instance));
    for (const q of order) {
      const p = primary.get(q.name.slice(1));
      const want = p?.instance ? { instance: p.instance, addr: p.addr, port: p.port } : { instance: undefined, addr: "127.0.0.1", port: 1 };
      const state = want.instance && !active ? "ready" : "maint";
      if (q.instance !== want.instance || q.addr !== want.addr || q.port !== want.port) {
        await this.api.setState(backend, q.name, "maint");
        if (q.addr !== want.addr || q.port !== want.port) await this.api.setAddr(backend, q.name, want.addr, want.port);
        Object.assign(q, want, { state: "maint" });
      }
      if (q.state !== state) {
        await this.api.setState(backend, q.name, state);
        q.state = state;
      }
    }
  }

  /** Waits up to timeoutMs until HAProxy's own checks see at least one of these servers UP; false when they never did. */
  private async waitUp(backend: string, names: string[], timeoutMs: number): Promise<boolean> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const live = await this.api.serverStates(backend);
      if (names.some((n) => live.get(n)?.op === 2)) return true;
      if (Date.now() > until) return false;
      await sleep(20);
    }
  }

  /** Peer slots take traffic, or stop taking it (this machine has its own instances again). Turned on, they are
   *  given a moment to be seen UP before the caller drains the local instances. */
  peersActive(backend: string, active: boolean): Promise<void> {
    return this.serial(async () => {
      const b = this.state.backends.find((x) => x.name === backend);
      if (!b) return;
      const changed: string[] = [];
      for (const s of peerSlots(b, "primary").filter((x) => x.instance)) {
        const want = active ? "ready" : "maint";
        if (s.state === want) continue;
        await this.api.setState(backend, s.name, want);
        s.state = want;
        changed.push(s.name);
      }
      if (active && changed.length) await this.waitUp(backend, changed, 3000);
      await this.mirrorBackupPeers(backend, b, active);
      await this.persist();
    });
  }

  /** Drops a backend (its app was removed); the last one gone stops HAProxy. */
  removeBackend(name: string): Promise<void> {
    return this.serial(async () => {
      const before = this.state.backends.length;
      this.state.backends = this.state.backends.filter((b) => b.name !== name);
      if (this.state.backends.length === before) return;
      if (!this.state.backends.length) {
        const pid = this.pid();
        if (pid) process.kill(pid, "SIGUSR1"); // soft stop: open connections finish
        // A soft-stopping HAProxy may linger (idle keep-alive clients get their next answer with Connection: close)
        // with its listeners and runtime socket already closed: it is not "the running HAProxy" any more, so
        // the next app starts a new one instead of taking sockets over from it.
        rmSync(this.paths.pidFile, { force: true });
        this.log("proxy: no backends left, HAProxy stopped");
        await this.persist();
        return;
      }
      await this.reload();
    });
  }

  /** After an agent restart: the running HAProxy is made to match the saved state. */
  sync(): Promise<void> {
    return this.serial(async () => {
      if (!this.pid() || !existsSync(this.paths.statsSocket)) return;
      for (const b of this.state.backends) {
        const live = await this.api.serverStates(b.name);
        // A backend or slot HAProxy lacks (e.g. backup peer slots saved state gained after an upgrade): the file has it.
        if (!live.size || b.slots.some((s) => !live.has(s.name))) {
          await this.reload();
          return;
        }
        for (const s of b.slots) {
          const l = live.get(s.name);
          if (!l) continue;
          if (l.addr !== s.addr || l.port !== s.port) {
            await this.api.setState(b.name, s.name, "maint");
            await this.api.setAddr(b.name, s.name, s.addr, s.port);
          }
          await this.api.setState(b.name, s.name, s.state === "drain" ? "maint" : s.state);
          if (s.state === "drain") s.state = "maint";
        }
      }
      await this.persist();
    });
  }
}
