// The proxy controller: the agent's view of its machine's HAProxy as backends
// and slots, and every switch, made through the Runtime API without a reload.
// A reload (seamless) happens only when backends change. The process itself is
// haproxy-process.ts; the files it is started from, proxy-file.ts.
import { mkdirSync } from "node:fs";
import { MIN_BACKUP_SLOTS, MIN_PEER_SLOTS, MIN_SLOTS, routeConflicts, tcpPortOwner, type ProxyBackend, type ProxyState, type Slot } from "../proxy/model.ts";
import { addPeerSlots, peerSlots } from "../proxy/peer-slots.ts";
import { RuntimeApi } from "../proxy/runtime-api.ts";
import { HaproxyProcess, type HaproxyControl, type ProxyPaths } from "./haproxy-process.ts";
import type { HostsBlockWriter } from "./hosts-file.ts";
import { machineHostsFile, machineInternalAddrs, NamesPublisher } from "./internal-names.ts";
import { ProxyStateFile } from "./proxy-file.ts";
import { paceIsOff, placePeers, setPeersActive, type Peer, type SlotApi } from "./proxy-peers.ts";
import { applyMeshCert, savedMesh, type MeshInstall } from "./proxy-mesh.ts";
import { addSslCert, removeSslCert, shownCrtList, swapSslFile } from "../proxy/runtime-ssl.ts";
import { peerBackendName } from "../proxy/tcp.ts";
import { tlsBackends } from "../proxy/tls.ts";
import { TlsStore, type TlsCertInfo, type TlsRuntime } from "./proxy-tls.ts";
import { tlsShareSocket } from "./acme-share.ts";
import { byCodeUnit } from "../lib/order.ts";

export { haproxyPrivileges, type ProxyPaths } from "./haproxy-process.ts";
export { addPeerSlots, peerSlots } from "../proxy/peer-slots.ts";

const realSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The controller's effects; tests replace the Runtime API and the process with in-memory ones. */
export interface ProxyParts {
  api: SlotApi;
  haproxy: HaproxyControl;
  sleep: (ms: number) => Promise<void>;
  /** The hosts file the apps' internal names go into (null: none); default: the machine's, for its own proxy. */
  hosts: HostsBlockWriter | null;
  /** Addresses the internal frontend can listen on now (internal-names.ts); undefined: cannot tell, keep them. */
  internalAddrs: () => Promise<string[] | undefined>;
  /** Replaces a certificate or CA file in the running HAProxy (proxy/runtime-ssl.ts). */
  swapSsl: (kind: "cert" | "ca-file", path: string, pem: string) => Promise<void>;
  /** The HTTPS certificates' Runtime API commands (proxy/runtime-ssl.ts). */
  tlsRuntime: TlsRuntime;
}

export class ProxyController {
  readonly api: SlotApi;
  private readonly haproxy: HaproxyControl;
  private readonly file: ProxyStateFile;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly names: NamesPublisher;
  private readonly internalAddrs: () => Promise<string[] | undefined>;
  private readonly swapSsl: ProxyParts["swapSsl"];
  private state: ProxyState;
  /** HTTPS certificates (proxy-tls.ts). */
  readonly tls: TlsStore;
  /** Where the agent serves tls: auto certificates to the mesh (acme-share.ts), and HAProxy's group. */
  readonly tlsShare: { path: string; group?: string };
  /** The mesh came back from mesh.json, not from the proxy state: the running HAProxy may lack it (sync reloads). */
  private meshRestored = false;
  private chain: Promise<unknown> = Promise.resolve();
  /** Deferred slot changes not written yet (persistUnless, flush). */
  private dirty = false;

  constructor(
    paths: ProxyPaths,
    httpPort: number,
    private readonly log: (s: string) => void = () => {},
    parts: Partial<ProxyParts> = {},
  ) {
    mkdirSync(paths.dir, { recursive: true });
    this.api = parts.api ?? new RuntimeApi(paths.statsSocket);
    this.haproxy = parts.haproxy ?? new HaproxyProcess(paths, this.api);
    this.sleep = parts.sleep ?? realSleep;
    this.file = new ProxyStateFile(paths, log);
    this.names = new NamesPublisher(parts.hosts !== undefined ? parts.hosts : machineHostsFile(paths.dir), log);
    this.internalAddrs = parts.internalAddrs ?? machineInternalAddrs;
    this.swapSsl = parts.swapSsl ?? ((kind, path, pem) => swapSslFile(paths.statsSocket, kind, path, pem));
    const saved = this.file.read();
    const socket = paths.statsSocket;
    this.tls = new TlsStore(paths.dir, parts.tlsRuntime ?? {
      loaded: async (list) => this.haproxy.running() && (await shownCrtList(socket)).includes(list),
      entries: (list) => shownCrtList(socket, list),
      add: (list, path, pem, line) => addSslCert(socket, list, path, pem, line),
      swap: (path, pem) => swapSslFile(socket, "cert", path, pem),
      remove: (list, path) => removeSslCert(socket, list, path),
    });
    // The internal addresses too: dropped, the next activation after an agent restart found them "moved" and
    // reloaded HAProxy.
    this.state = { httpPort: saved?.httpPort ?? httpPort, backends: saved?.backends ?? [], ...(saved?.mesh ? { mesh: saved.mesh } : {}), ...(saved?.acme ? { acme: saved.acme } : {}), tlsCrtList: this.tls.list, tlsShare: tlsShareSocket(paths).seen, ...(saved?.internalAddrs ? { internalAddrs: saved.internalAddrs } : {}) };
    this.tlsShare = { path: tlsShareSocket(paths).path, group: paths.group };
    if (!this.state.mesh) {
      this.state.mesh = savedMesh(paths.dir);
      this.meshRestored = Boolean(this.state.mesh);
      if (this.meshRestored) log("proxy: the mesh was missing from the proxy state; restored from mesh.json");
    }
    // Peer slots that take over while every local instance is down (a restart), for backends saved before they existed.
    for (const b of this.state.backends) addPeerSlots(b, "backup", peerSlots(b, "primary").length);
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

  /** Writes haproxy.cfg and its state; HAProxy checks the file when its structure changes (before a start or
   *  reload); a slot change only alters addresses and states. */
  private persist(opts: { validate?: boolean } = {}): Promise<void> {
    if (tlsBackends(this.state).length) this.tls.ensureList();
    // Every write is the whole state: changes deferred until now are in it too.
    this.dirty = false;
    return this.file.write(this.state, opts.validate ? (f) => this.haproxy.check(f) : undefined).catch((e) => {
      this.dirty = true;
      throw e;
    });
  }

  /** Slot changes made with `defer` are on disk after the caller's flush() (or the next change that writes: every
   *  write is the whole state, another app's too). For a run of changes that belong together (an activation's
   *  switch: 3–4 slot changes, each a write of haproxy.cfg and state.json with two fsyncs, on every machine at
   *  once): one write for all of them. An agent that dies before the flush finds a state that writing each change
   *  at once could also have left (the run's start, or part of it), and sync() puts HAProxy back to it. */
  private persistUnless(defer: boolean | undefined): Promise<void> {
    if (!defer) return this.persist();
    this.dirty = true;
    return Promise.resolve();
  }

  /** Writes what deferred slot changes left unwritten; nothing when there are none. */
  flush(): Promise<void> {
    return this.serial(async () => {
      if (this.dirty) await this.persist();
    });
  }

  private async reload(): Promise<void> {
    await this.persist({ validate: true });
    await this.haproxy.startOrReload(this.file.cfgPath);
    // Names resolve once HAProxy serves them.
    this.names.publish(this.state);
  }

  /** The internal frontend's addresses as the machine has them now; true when they changed (a reload is due). */
  private async refreshInternalAddrs(): Promise<boolean> {
    const addrs = await this.internalAddrs();
    if (!addrs || JSON.stringify(addrs) === JSON.stringify(this.state.internalAddrs)) return false;
    this.state.internalAddrs = addrs;
    return true;
  }

  /** Starts HAProxy from the mirrored config when it is not running. */
  ensureRunning(): Promise<void> {
    return this.serial(async () => {
      if (this.haproxy.running()) {
        // Someone (Docker, a restored backup) may have rewritten the hosts file: cheap to check (nothing written when equal).
        this.names.publish(this.state);
        return;
      }
      await this.refreshInternalAddrs();
      this.log("starting HAProxy");
      await this.reload();
    });
  }

  /** Makes sure a backend exists with these routes and enough free slots; reloads only when that changes. */
  ensureBackend(name: string, opts: BackendShape): Promise<void> {
    return this.serial(async () => {
      const clash = routeConflicts(this.state, name, opts.routes, opts.httpPort);
      if (clash.length) {
        const c = clash[0]!;
        throw new Error(`route ${c.route.host ?? "*"}${c.route.path} on port ${opts.httpPort ?? this.state.httpPort} is already served by ${c.owner.replace(/^skiff_/, "")} on this machine; give one of them a host (routes: [{ host: … }]) or another http_port`);
      }
      const owner = tcpPortOwner(this.state, name, opts.tcpPort);
      if (owner) throw new Error(`TCP port ${opts.tcpPort} of the internal addresses is already served by ${owner.project && owner.app ? `app ${owner.app} of project ${owner.project}` : owner.name.replace(/^skiff_/, "")} on this machine; give ${opts.project && opts.app ? `${opts.app} of project ${opts.project}` : name.replace(/^skiff_/, "")} another internal_port (TCP names are told apart by port alone)`);
      const before = structuredClone(this.state);
      const moved = await this.refreshInternalAddrs();
      if (!shapeBackend(this.state, name, opts) && !moved) return;
      this.log(`proxy: backend ${name} changed, reloading HAProxy`);
      try {
        await this.reload();
      } catch (e) {
        // HAProxy kept running with the old file; the state and the file go back to match it.
        this.state = before;
        await this.persist().catch(() => {});
        throw e;
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

  private slotsOf(backend: string, instance: string, which: "primary" | "backup" | "all"): Slot[] {
    const b = this.state.backends.find((x) => x.name === backend);
    return (b?.slots ?? []).filter((s) => s.instance === instance && (which === "all" || (!s.peer && Boolean(s.backup) === (which === "backup"))));
  }

  /** Puts an instance into a free (primary or backup) slot and waits until HAProxy's own check says UP (`gated`:
   *  the instance has just passed the agent's health gate, so it is marked UP at once). */
  enable(backend: string, instance: string, addr: string, port: number, opts: { backup?: boolean; timeoutMs?: number; gated?: boolean; defer?: boolean } = {}): Promise<string> {
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
      // The caller's gate passed just now: HAProxy need not wait for its next check (it still runs them all).
      if (opts.gated) await this.api.healthUp(backend, slot.name).catch((e: Error) => this.log(`proxy: ${backend}/${slot!.name}: ${e.message}; waiting for its check`));
      if (!(await this.waitUp(backend, [slot.name], timeoutMs))) {
        await this.api.setState(backend, slot.name, "maint");
        throw new Error(`HAProxy did not see ${instance} as UP within ${timeoutMs} ms (its health check fails)`);
      }
      slot.state = "ready";
      await this.persistUnless(opts.defer);
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
      await this.sleep(50);
    }
    await this.release(backend, instance, "primary");
    return { waitedMs: Date.now() - started, leftSessions: Math.max(left, 0) };
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
  release(backend: string, instance: string, which: "primary" | "backup" | "all" = "all", opts: { defer?: boolean } = {}): Promise<void> {
    return this.serial(async () => {
      const slots = this.slotsOf(backend, instance, which);
      if (!slots.length) return;
      for (const slot of slots) {
        await this.api.setState(backend, slot.name, "maint");
        Object.assign(slot, { state: "maint", instance: undefined, port: 1, addr: "127.0.0.1" });
      }
      await this.persistUnless(opts.defer);
    });
  }

  private get peerDeps() {
    return { api: this.api, reload: () => this.reload(), waitUp: (b: string, n: string[], t: number) => this.waitUp(b, n, t), log: this.log };
  }

  /** The app's instances on other machines, in peer slots: taking traffic (`active`) while this machine runs none of its own. */
  setPeers(backend: string, peers: Peer[], active: boolean): Promise<void> {
    return this.serial(async () => {
      const b = this.state.backends.find((x) => x.name === backend);
      if (!b) return;
      // Told again what it already has (a rollout tells every machine at its end): nothing to write.
      const before = JSON.stringify(b);
      const saved = structuredClone(b.slots);
      try {
        await placePeers(this.peerDeps, b, peers, active);
      } catch (e) {
        // The record changes before HAProxy confirms a batch: one it refused (or never answered) must not be taken
        // as applied, or the same peers told again would look placed. Slots that existed go back to what they
        // were; slots added (with a reload) stay, empty.
        const was = new Map(saved.map((x) => [x.name, x]));
        for (const x of b.slots) Object.assign(x, was.get(x.name) ?? { instance: undefined, addr: "127.0.0.1", port: 1, state: "maint" });
        throw e;
      }
      if (JSON.stringify(b) !== before) await this.persist();
    });
  }

  /** The other machines' instances this backend's peer slots carry, as the last peers.set placed them; undefined
   *  when the same peers told again would still change something (their check pace, backup slots to mirror them):
   *  the CLI then tells them. */
  placedPeers(backend: string): Peer[] | undefined {
    const b = this.state.backends.find((x) => x.name === backend);
    if (!b) return [];
    const placed = peerSlots(b, "primary").flatMap((s) => (s.instance ? [{ name: s.instance, addr: s.addr, port: s.port }] : []));
    return paceIsOff(b, placed.length) || peerSlots(b, "backup").length < peerSlots(b, "primary").length ? undefined : placed;
  }

  /** Peer slots take traffic (this machine runs none of the app), or stop taking it. */
  peersActive(backend: string, active: boolean, opts: { defer?: boolean } = {}): Promise<void> {
    return this.serial(async () => {
      const b = this.state.backends.find((x) => x.name === backend);
      if (!b) return;
      // Most activations change nothing here (the machine had instances of its own and still has): nothing to write.
      const before = JSON.stringify(b);
      await setPeersActive(this.peerDeps, b, active);
      if (JSON.stringify(b) !== before) await this.persistUnless(opts.defer);
    });
  }

  /** Projects whose certificate the mesh frontend has (what HAProxy loads from the state). */
  meshProjects(): string[] {
    return this.state.mesh?.certs.map((c) => c.project) ?? [];
  }

  /** This machine's certificate for a project's mesh (proxy-mesh.ts): a reload the first time, live after. */
  setMeshCert(m: MeshInstall): Promise<"reload" | "live"> {
    return this.serial(() =>
      applyMeshCert({ state: this.state, running: () => this.haproxy.running(), restructure: () => (this.haproxy.running() ? this.reload() : this.persist({ validate: true })), persist: () => this.persist(), swap: this.swapSsl }, m),
    );
  }

  /** An HTTPS certificate for these hosts (proxy-tls.ts), one proxy change at a time. */
  setTlsCert(id: string, hosts: string[], cert: string, key: string): Promise<{ applied: "live" | "disk"; cert: TlsCertInfo }> {
    return this.serial(() => this.tls.set(id, hosts, cert, key));
  }

  removeTlsCert(id: string): Promise<boolean> {
    return this.serial(() => this.tls.remove(id));
  }

  /** A project's ACME account thumbprint and its tls: auto hosts (none: it has none any more); a reload when that
   *  changes, as the answers are in haproxy.cfg (acme-auto.ts calls it when a deploy registers a host). */
  setAcmeAccount(project: string, thumbprint: string, hosts: string[], httpPort?: number): Promise<boolean> {
    return this.serial(async () => {
      const before = structuredClone(this.state);
      const rest = (this.state.acme ?? []).filter((a) => a.project !== project);
      const next = hosts.length ? [...rest, { project, thumbprint, hosts: [...hosts].sort(), ...(httpPort !== undefined ? { httpPort } : {}) }].sort((a, b) => byCodeUnit(a.project, b.project)) : rest;
      if (JSON.stringify(next) === JSON.stringify(this.state.acme ?? [])) return false;
      this.state.acme = next.length ? next : undefined;
      try {
        if (this.haproxy.running()) await this.reload();
        else await this.persist({ validate: true });
      } catch (e) {
        this.state = before;
        await this.persist().catch(() => {});
        throw e;
      }
      return true;
    });
  }

  /** Where the HTTPS certificates live (the ACME account URLs go there too). */
  tlsDir(): string {
    return this.tls.dir;
  }

  pruneTlsCerts(project: string, app: string, keep: string[]): Promise<string[]> {
    return this.serial(() => this.tls.prune(project, app, keep));
  }

  /** Waits up to timeoutMs until HAProxy's own checks see at least one of these servers UP; false when they never did. */
  private async waitUp(backend: string, names: string[], timeoutMs: number): Promise<boolean> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const live = await this.api.serverStates(backend);
      if (names.some((n) => live.get(n)?.op === 2)) return true;
      if (Date.now() > until) return false;
      await this.sleep(20);
    }
  }

  /** Drops a backend (its app was removed); the last one gone stops HAProxy. */
  removeBackend(name: string): Promise<void> {
    return this.serial(async () => {
      const before = this.state.backends.length;
      this.state.backends = this.state.backends.filter((b) => b.name !== name);
      if (this.state.backends.length === before) return;
      if (this.state.backends.length) return this.reload();
      this.haproxy.softStop();
      this.log("proxy: no backends left, HAProxy stopped");
      await this.persist();
      this.names.publish(this.state);
    });
  }

  /** After an agent restart: the running HAProxy is made to match the saved state. */
  sync(): Promise<void> {
    return this.serial(async () => {
      if (!this.haproxy.reachable()) return;
      if (this.meshRestored) {
        this.meshRestored = false;
        return this.reload();
      }
      if (this.state.backends.length && this.file.stale(this.state)) return this.reload();
      for (const b of this.state.backends) {
        // A TCP app's peer slots live in a backend of their own (tcp.ts peerBackendName).
        const where = (s: Slot) => (s.peer ? peerBackendName(b) : b.name);
        const live = new Map([...(await this.api.serverStates(b.name)), ...(peerBackendName(b) === b.name ? [] : await this.api.serverStates(peerBackendName(b)))]);
        // A backend or slot HAProxy lacks (e.g. backup peer slots saved state gained after an upgrade): the file has it.
        if (!live.size || b.slots.some((s) => !live.has(s.name))) return this.reload();
        for (const s of b.slots) {
          const l = live.get(s.name);
          if (!l) continue;
          if (l.addr !== s.addr || l.port !== s.port) {
            await this.api.setState(where(s), s.name, "maint");
            await this.api.setAddr(where(s), s.name, s.addr, s.port);
          }
          await this.api.setState(where(s), s.name, s.state === "drain" ? "maint" : s.state);
          if (s.state === "drain") s.state = "maint";
        }
      }
      await this.persist();
      this.names.publish(this.state);
    });
  }
}

/** What ensureBackend makes a backend be. `project` and `app` name it (its internal names); absent, it keeps the names it has. */
type BackendShape = { routes: ProxyBackend["routes"]; healthPath?: string; intervalMs: number; timeoutMs?: number; freeSlots: number; httpPort?: number; httpsPort?: number; tcpPort?: number; project?: string; app?: string };

/** Gives a backend these routes and settings, peer slots, and enough free primary and backup slots; true when
 *  anything changed (HAProxy must reload). */
function shapeBackend(state: ProxyState, name: string, opts: BackendShape): boolean {
  let b = state.backends.find((x) => x.name === name);
  let changed = false;
  if (!b) {
    b = { name, routes: opts.routes, healthPath: opts.healthPath, intervalMs: opts.intervalMs, timeoutMs: opts.timeoutMs, slots: [] };
    state.backends.push(b);
    changed = true;
  }
  if (JSON.stringify(b.routes) !== JSON.stringify(opts.routes) || b.healthPath !== opts.healthPath || b.intervalMs !== opts.intervalMs || b.timeoutMs !== opts.timeoutMs || b.httpPort !== opts.httpPort || b.httpsPort !== opts.httpsPort || b.tcpPort !== opts.tcpPort) {
    Object.assign(b, { routes: opts.routes, healthPath: opts.healthPath, intervalMs: opts.intervalMs, timeoutMs: opts.timeoutMs, httpPort: opts.httpPort, httpsPort: opts.httpsPort, tcpPort: opts.tcpPort });
    // Absent keys, not undefined ones: state.json and its comparisons stay as they were for HTTP apps.
    if (b.tcpPort === undefined) delete b.tcpPort;
    if (b.healthPath === undefined) delete b.healthPath;
    if (b.httpsPort === undefined) delete b.httpsPort;
    changed = true;
  }
  if (opts.project !== undefined && opts.app !== undefined && (b.project !== opts.project || b.app !== opts.app)) {
    Object.assign(b, { project: opts.project, app: opts.app });
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
  return changed;
}
