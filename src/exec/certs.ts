// Machine certificates for the mesh, carried out: each machine's agent makes a
// key pair and sends its public key; we sign it with the project CA and send
// the certificate back; the agent checks it and loads it into HAProxy (live
// when it has one already). Machines in parallel; one failure does not stop the
// others, and a machine whose step failed keeps the certificate it had.
import { X509Certificate } from "node:crypto";
import type { Project } from "../config/model.ts";
import type { Reporter } from "../contracts/events.ts";
import { MESH_PORT } from "../contracts/mesh.ts";
import type { RpcResult } from "../contracts/rpc.ts";
import { settleAll } from "../lib/parallel.ts";
import { issueMachineCert, type CaKeyPair } from "../secrets/ca.ts";
import type { AgentClient } from "../transport/agent-client.ts";

export type MeshCertInfo = RpcResult<"mesh.list">[number];

/** Renewed by setup (and warned about by `skiff certs`) when it expires within this many days. */
export const RENEW_DAYS = 30;

/** Machines of a project that take part in the mesh: those with a private address (peers reach each other there). */
export const meshMachines = (project: Project) => Object.values(project.machines).filter((m) => m.privateAddress);

/** Why a machine needs a (new) certificate under this CA, or undefined when the one it has is good. */
export function certProblem(have: MeshCertInfo | undefined, caCert: string, now = new Date()): string | undefined {
  if (!have) return "no certificate";
  if (have.loaded === false) return "not loaded in HAProxy";
  const ca = new X509Certificate(caCert);
  if (have.issuer !== ca.subject) return "issued by another CA";
  if (!have.caSubjects.includes(ca.subject)) return "does not trust the project CA";
  const days = (new Date(have.notAfter).getTime() - now.getTime()) / 86_400_000;
  if (days < RENEW_DAYS) return days < 0 ? "expired" : `expires in ${Math.floor(days)} days`;
  return undefined;
}

export interface CertResult {
  machine: string;
  /** "issued": a new certificate is live; "kept": it had a good one. */
  action: "issued" | "kept";
  why?: string;
  notAfter?: string;
  applied?: "reload" | "live";
}

/** What each machine has for this project (undefined: none). */
export async function meshCertsOf(clients: AgentClient[], project: string): Promise<Map<string, MeshCertInfo | undefined>> {
  const lists = await Promise.all(clients.map((c) => c.call("mesh.list")));
  return new Map(clients.map((c, i) => [c.machine, lists[i]!.find((x) => x.project === project)]));
}

/** Issues to every client (`force`: even one whose certificate is good, as a rotation does); the CA key is asked
 *  for only when some machine needs one. */
export async function issueMeshCerts(clients: AgentClient[], project: Project, o: { caCert: string; ca: () => Promise<CaKeyPair>; force: boolean; reporter: Reporter }): Promise<{ machine: string; ok: boolean; value?: CertResult; error?: unknown }[]> {
  const have = await meshCertsOf(clients, project.name);
  const why = new Map(clients.map((c) => [c.machine, o.force ? "rotate" : certProblem(have.get(c.machine), o.caCert)]));
  let ca: Promise<CaKeyPair> | undefined;
  const res = await settleAll(clients, 10, async (c): Promise<CertResult> => {
    const reason = why.get(c.machine);
    if (!reason) return { machine: c.machine, action: "kept", notAfter: have.get(c.machine)!.notAfter };
    const addr = c.transport.machine.privateAddress;
    if (!addr) throw new Error(`${c.machine} has no private_address: it takes no part in the mesh`);
    const step = `mesh certificate (${reason})`;
    const started = Date.now();
    o.reporter.emit({ type: "step", machine: c.machine, step, status: "start" });
    try {
      const key = (ca ??= o.ca());
      const { publicKey } = await c.call("mesh.key", { project: project.name });
      const cert = await issueMachineCert(await key, { project: project.name, machine: c.machine, publicKey });
      const r = await c.call("mesh.install", { project: project.name, addr, port: MESH_PORT, cert, ca: o.caCert });
      o.reporter.emit({ type: "step", machine: c.machine, step, status: "ok", ms: Date.now() - started, detail: `valid until ${r.cert.notAfter.slice(0, 10)}, loaded ${r.applied === "live" ? "live" : "with a reload"}` });
      return { machine: c.machine, action: "issued", why: reason, notAfter: r.cert.notAfter, applied: r.applied };
    } catch (e) {
      o.reporter.emit({ type: "step", machine: c.machine, step, status: "failed", ms: Date.now() - started });
      throw e;
    }
  });
  return res.map((r, i) => (r.ok ? { machine: clients[i]!.machine, ok: true, value: r.value } : { machine: clients[i]!.machine, ok: false, error: r.error }));
}
