// The agent's work on its machine, one part per job (see each file): instances
// (instances.ts), the health gate (health-gate.ts), activation (activation.ts),
// the restart policy (restart-policy.ts) and the supervisor (supervisor.ts),
// pruning, hooks, removal, reconcile after a restart, the status view and the
// machine's name. AgentCore builds the shared context once and hands it out;
// the RPC handlers call it.
import { join } from "node:path";
import type { ActivateParams, ActivateResult, InstanceList } from "../contracts/activate.ts";
import type { InstanceRecord, ReleaseSpec } from "../contracts/model.ts";
import { backendName } from "../proxy/model.ts";
import type { Runtime, RuntimeKind } from "../runtime/types.ts";
import { activate, type ActivateHooks } from "./activation.ts";
import { realEffects, runtimeOf, type AgentProxy, type Effects, type Log, type Machine } from "./effects.ts";
import type { HealthBook } from "./health-book.ts";
import { waitHealthy, type GateResult } from "./health-gate.ts";
import { runHook, type HookParams, type HookResult } from "./hooks.ts";
import { rememberMachineName } from "./identity.ts";
import { MeshCerts, type MeshCertInfo } from "./mesh-certs.ts";
import { KeyedMutex } from "./mutex.ts";
import { reconcile } from "./reconcile.ts";
import { removeApp, type RemoveResult } from "./removal.ts";
import { holdApp } from "./hold.ts";
import type { HoldParams, HoldResult } from "../contracts/rpc.ts";
import { statusView, type AppView } from "./status-view.ts";
import type { Store } from "./store.ts";
import { Supervisor } from "./supervisor.ts";

export type { ActivateParams, ActivateResult };
export { isoAfter } from "./activation.ts";

export class AgentCore {
  readonly mutex = new KeyedMutex();
  readonly health: HealthBook = new Map();
  readonly machine: Machine;
  readonly supervisor: Supervisor;
  /** This machine's mesh certificates, beside HAProxy's files (serve.ts: <state>/proxy). */
  readonly mesh: MeshCerts;

  constructor(
    readonly store: Store,
    readonly runtimes: Partial<Record<RuntimeKind, Runtime>>,
    readonly proxy: AgentProxy,
    log: Log = () => {},
    fx: Partial<Effects> = {},
  ) {
    this.machine = { store, runtimes, proxy, log, fx: { ...realEffects, ...fx }, mutex: this.mutex, health: this.health };
    this.supervisor = new Supervisor(this.machine);
    for (const rt of Object.values(runtimes)) rt?.watchExits?.((name) => this.supervisor.poke(name));
    this.mesh = new MeshCerts(join(store.dir, "proxy", "mesh"));
  }

  /** The runtime that runs a release's (or an instance's) instances. */
  rt(x: { runtime?: RuntimeKind }): Runtime {
    return runtimeOf(this.machine, x);
  }

  waitHealthy(inst: InstanceRecord, spec: ReleaseSpec, deadlineAt: number): Promise<GateResult> {
    return waitHealthy(this.machine, inst, spec, deadlineAt);
  }

  activate(p: ActivateParams, hooks?: ActivateHooks): Promise<ActivateResult> {
    return activate(this.machine, p, hooks);
  }

  runHook(p: HookParams): Promise<HookResult> {
    return runHook(this.machine, p);
  }

  holdApp(p: HoldParams): Promise<HoldResult> {
    return holdApp(this.machine, p);
  }

  removeApp(project: string, app: string, opts: { holder?: string; onlyIfActive?: number } = {}): Promise<RemoveResult> {
    return removeApp(this.machine, project, app, opts);
  }

  /** The app's instances on the other machines, for this machine's HAProxy. */
  setPeers(project: string, app: string, peers: { name: string; addr: string; port: number }[]): Promise<void> {
    return this.mutex.run(`${project}/${app}`, async () => {
      const st = this.store.state(project, app);
      if (st.active === null) return;
      await this.proxy.setPeers(backendName(project, app), peers, st.instances.length === 0);
    });
  }

  /** The app's instances here and the peers its backend carries, from the saved state only (no runtime calls):
   *  cheap enough to ask after every rollout wave, and sent with every activation's result. */
  instanceList(project: string, app: string): InstanceList {
    const st = this.store.state(project, app);
    const peers = this.proxy.placedPeers(backendName(project, app));
    return { active: st.active, instances: st.instances.map((i) => ({ name: i.name, bindAddress: i.bindAddress, hostPort: i.hostPort })), ...(peers ? { peers } : {}) };
  }

  /** A new key pair for the project's mesh certificate; its public key goes to the CLI to be signed. */
  meshKey(project: string): Promise<string> {
    return this.mutex.run(`mesh/${project}`, async () => this.mesh.newKey(project));
  }

  /** The signed certificate: checked against the waiting key and the CA, written, loaded into HAProxy. The mesh
   *  frontend listens on `addr` (the machine's private address, which only the CLI's config knows). */
  meshInstall(p: { project: string; addr: string; port: number; cert: string; ca: string }): Promise<{ applied: "reload" | "live"; cert: MeshCertInfo }> {
    return this.mutex.run(`mesh/${p.project}`, async () => {
      const r = this.mesh.install(p.project, p.cert, p.ca);
      const applied = await this.proxy.setMeshCert({ project: p.project, addr: p.addr, port: p.port, crtList: join(this.mesh.dir, "crt-list"), files: r.files, crtPem: r.crtPem, caPem: r.caPem, caChanged: r.caChanged });
      return { applied, cert: { ...this.mesh.list([p.project])[0]!, loaded: true } };
    });
  }

  reconcile(): Promise<void> {
    return reconcile(this.machine);
  }

  view(): Promise<AppView[]> {
    return statusView(this.machine);
  }

  rememberMachineName(machine: string): void {
    rememberMachineName(this.store, machine);
  }

  startSupervisor(tickMs = 250): void {
    this.supervisor.start(tickMs);
  }

  stopSupervisor(): void {
    this.supervisor.stop();
  }

  superviseOnce(): Promise<void> {
    return this.supervisor.once();
  }
}
