// What runs where, from every machine's agent at once: the data of `skiff status`.
import type { Project } from "../config/model.ts";
import { internalUrl } from "../contracts/internal-names.ts";
import { askAll } from "../transport/agent-client.ts";
import type { TlsHostFacts } from "../contracts/tls-facts.ts";
import { certStatus, type TlsStatus } from "./cert-status.ts";
import { machineProblem } from "./machine-problem.ts";

export type { TlsStatus };

export interface InstanceStatus {
  name: string;
  release: number;
  hostPort: number;
  running: boolean;
  healthy: boolean;
  /** The health check's last word ("ok", or why not). */
  health: string;
  restarts: number;
  startedAt: string;
  slotState: string;
  lastExit?: { code: number | null; oomKilled: boolean; reason: string };
}

export interface AppStatus {
  project: string;
  app: string;
  /** The active release on this machine (null: none). */
  active: number | null;
  releases: number[];
  instances: InstanceStatus[];
  /** Instances of the previous release kept warm as HAProxy backups. */
  warm: InstanceStatus[];
  /** Where the project's other apps call it: `http://APP.PROJECT.internal/` (also `http://APP.internal/` on a
   *  machine where no other project has an app of that name), served by each machine's HAProxy; for a TCP app
   *  `tcp://APP.PROJECT.internal:PORT`. */
  internalUrl: string;
  /** Its public routes as URLs on this machine's ports, `https://` for routes with tls (absent: no host routes). */
  publicUrls?: string[];
  /** An accessory held stopped here (`skiff accessory stop`): when, and by whom. */
  held?: { at: string; by?: string };
}

/** A route as a URL: https on the machine's https_port for a tls route, else http on its http_port (a route
 *  without a host is any host: the machine's address stands in). */
export function publicUrls(project: Project, app: string, machine: string): string[] {
  const a = project.apps[app];
  const m = project.machines[machine];
  if (!a || !m) return [];
  return a.routes.map((r) => {
    const [scheme, port, usual] = r.tls ? ["https", m.httpsPort ?? 443, 443] : ["http", m.httpPort, 80];
    return `${scheme}://${r.host ?? (m.local ? "localhost" : m.host)}${port === usual ? "" : `:${port}`}${r.path}`;
  });
}

/** A machine whose agent answered. */
export interface MachineStatus {
  machine: string;
  apps: AppStatus[];
  /** Records in /var/lib/skiff the agent skipped (torn writes, stray files). */
  damaged: string[];
  /** The project's HTTPS certificates this machine serves (repo and tls: auto), with their warnings (api/cert-status.ts);
   *  absent: its agent does not report them (older than this CLI). */
  tls?: TlsStatus[];
}

/** A machine whose agent did not answer: `problem` in a few words, `error` the full message. */
export interface MachineUnreachable {
  machine: string;
  problem: string;
  error: string;
}

export type MachineState = MachineStatus | MachineUnreachable;

export const isUnreachable = (m: MachineState): m is MachineUnreachable => "error" in m;

/** A TCP app's internal port as the config says (the status shows where to call it). */
const tcpPortOf = (project: Project, app: string): number | undefined => (Object.hasOwn(project.apps, app) ? project.apps[app]!.internalPort : undefined);

export async function gatherStatus(project: Project, app?: string, now = Date.now()): Promise<MachineState[]> {
  const res = await askAll(project, (c) => c.call<{ apps: AppStatus[]; damaged?: string[]; tls?: TlsHostFacts[] }>("state"));
  // Certificates are read across machines (who ordered a tls: auto one, who serves another): all answers first.
  const certs = certStatus(
    res.flatMap((r) => (r.ok ? [{ machine: r.machine, tls: r.value.tls }] : [])),
    now,
    (f) => f.project === project.name && (!app || f.app === app),
  );
  return res.map((r): MachineState => {
    if (!r.ok) return { machine: r.machine, problem: machineProblem(r.error), error: (r.error as Error).message };
    const tls = certs.get(r.machine);
    return { machine: r.machine, apps: r.value.apps.filter((a) => a.project === project.name && (!app || a.app === app)).map((a) => ({ ...a, internalUrl: internalUrl(a.project, a.app, tcpPortOf(project, a.app)), publicUrls: publicUrls(project, a.app, r.machine) })), damaged: r.value.damaged ?? [], ...(tls ? { tls } : {}) };
  });
}

/** True when every machine answered and every instance of `app` (all apps when none is named) runs healthy, on the release each machine has active. */
export function allHealthy(machines: MachineState[], app?: string): boolean {
  // A held accessory is stopped on purpose: not healthy, but not waited for either.
  return machines.every((m) => !isUnreachable(m) && m.apps.filter((a) => (!app || a.app === app) && !a.held).every((a) => a.instances.every((i) => i.running && i.healthy && i.release === a.active)));
}
