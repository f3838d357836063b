// Certificates for the mesh (mutual TLS between machines): what setup issues,
// `skiff certs` (status) and `skiff certs rotate`.
import type { Project } from "../config/model.ts";
import type { Reporter } from "../contracts/events.ts";
import { UserError } from "../errors.ts";
import { certProblem, issueMeshCerts, meshCertsOf, meshMachines, RENEW_DAYS, type CertResult } from "../exec/certs.ts";
import { caFiles, createCaFiles, loadCa, readCaCert } from "../secrets/ca-store.ts";
import { describeCert, type CaKeyPair } from "../secrets/ca.ts";
import { AgentClient } from "../transport/agent-client.ts";
import { connect, sshContext } from "../transport/connect.ts";

export interface MachineCert {
  machine: string;
  reachable: boolean;
  error?: string;
  /** The machine's certificate for this project, if it has one. */
  cert?: { subject: string; issuer: string; notAfter: string; fingerprint: string };
  /** Why it needs a new one (none, another CA, expires within 30 days…); undefined: good. */
  problem?: string;
}

export interface CertsStatus {
  ca?: { file: string; subject: string; notAfter: string; fingerprint: string };
  machines: MachineCert[];
  warnings: string[];
}

function clientsFor(project: Project, names?: string[]): AgentClient[] {
  const ctx = sshContext(project);
  return meshMachines(project).filter((m) => !names || names.includes(m.name)).map((m) => new AgentClient(connect(m, ctx)));
}

async function withClients<T>(clients: AgentClient[], fn: (c: AgentClient[]) => Promise<T>): Promise<T> {
  try {
    return await fn(clients);
  } finally {
    for (const c of clients) c.close();
  }
}

export interface MeshSetupResult {
  machine: string;
  /** What was (or, dry-run, would be) done, in words; empty: nothing to do. */
  done: string[];
  error?: unknown;
}

/** Setup's part: the CA (made on the first setup of a project with two or more machines) and a certificate on
 *  each of these machines that lacks a good one. A one-machine project has no mesh. */
export async function setupMeshCerts(project: Project, names: string[], o: { dryRun: boolean; reporter: Reporter }): Promise<MeshSetupResult[]> {
  if (meshMachines(project).length < 2) return [];
  const note = (message: string) => o.reporter.emit({ type: "note", message });
  let caCert = readCaCert(project);
  let made: CaKeyPair | undefined;
  return withClients(clientsFor(project, names), async (clients) => {
    if (o.dryRun) {
      const have = await meshCertsOf(clients, project.name).catch(() => new Map());
      return clients.map((c) => {
        const why = caCert ? certProblem(have.get(c.machine), caCert) : "no project CA yet";
        return { machine: c.machine, done: why ? [`issue the mesh certificate (${why})`] : [] };
      });
    }
    if (!caCert) {
      made = await createCaFiles(project, note);
      caCert = made.cert;
    }
    const res = await issueMeshCerts(clients, project, { caCert, ca: async () => made ?? loadCa(project), force: false, reporter: o.reporter });
    return res.map((r) => ({ machine: r.machine, done: r.value?.action === "issued" ? [`mesh certificate issued (${r.value.why})`] : [], error: r.error }));
  });
}

export async function certsStatus(project: Project): Promise<CertsStatus> {
  const caCert = readCaCert(project);
  const ca = caCert ? { file: caFiles(project).cert, ...describeCert(caCert) } : undefined;
  const warnings: string[] = [];
  if (!ca && meshMachines(project).length >= 2) warnings.push("no mesh CA yet: `skiff setup` makes one and issues the machines' certificates");
  const machines = await withClients(clientsFor(project), (clients) =>
    Promise.all(
      clients.map(async (c): Promise<MachineCert> => {
        try {
          const have = (await c.call("mesh.list")).find((x) => x.project === project.name);
          const problem = caCert ? certProblem(have, caCert) : have ? undefined : "no certificate";
          if (problem) warnings.push(`${c.machine}: mesh certificate: ${problem} (${problem.startsWith("expires") ? "`skiff certs rotate`" : "`skiff setup`"})`);
          return { machine: c.machine, reachable: true, cert: have && { subject: have.subject, issuer: have.issuer, notAfter: have.notAfter, fingerprint: have.fingerprint }, problem };
        } catch (e) {
          if (!(e instanceof UserError)) throw e;
          return { machine: c.machine, reachable: false, error: e.message };
        }
      }),
    ),
  );
  return { ca, machines, warnings };
}

/** New key pair and certificate on every machine of the mesh, loaded live (no reload, no request lost). */
export async function certsRotate(project: Project, o: { machines?: string[]; reporter: Reporter }): Promise<CertResult[]> {
  const caCert = readCaCert(project);
  if (!caCert) throw new UserError("no mesh CA to issue with", { hint: "`skiff setup` makes one and issues every machine's certificate" });
  const ca = await loadCa(project);
  return withClients(clientsFor(project, o.machines), async (clients) => {
    const res = await issueMeshCerts(clients, project, { caCert, ca: async () => ca, force: true, reporter: o.reporter });
    const failed = res.filter((r) => !r.ok);
    if (failed.length) throw new UserError(`certificates not rotated on ${failed.map((f) => f.machine).join(", ")}: ${failed.map((f) => (f.error as Error).message).join("; ")}`, { hint: "those machines keep their previous certificate (still valid); run the command again" });
    return res.map((r) => r.value!);
  });
}

export { RENEW_DAYS };
