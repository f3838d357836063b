// Routes with `tls: auto` at deploy (memo §4): the project's ACME account key
// (made the first time, age-encrypted beside the secrets) goes with each host
// to every machine of the app (RPC tls.auto, on stdin: never in argv), which
// then answers HTTP-01 for it and keeps its certificate renewed. When none of
// them serves a valid certificate yet, the rank-0 machine orders one now, so a
// DNS or CA problem fails the deploy before any switch, and the others pull it
// over the mesh. The key never comes to this computer.
import { existsSync, readFileSync } from "node:fs";
import { relative } from "node:path";
import type { AppSpec, Project } from "../config/model.ts";
import type { Reporter } from "../contracts/events.ts";
import { UserError } from "../errors.ts";
import { accountKeyFile, createAccountKeyFile, loadAccountKey, thumbprint } from "../secrets/acme-account.ts";
import { keyRecipients } from "../secrets/ca-store.ts";
import type { AgentClient } from "../transport/agent-client.ts";

export interface AutoCert {
  app: string;
  id: string;
  hosts: string[];
}

/** What a machine says it keeps (tls.list). */
export interface AutoServed {
  id: string;
  serial?: string;
  notAfter?: string;
}

export const certId = (project: string, app: string, host: string) => `${project}_${app}_${host}`.toLowerCase().replace(/[^a-z0-9_.-]/g, "-");

/** One certificate per tls: auto host (a host named by two routes of the app, once). */
export function autoCerts(project: Project, app: AppSpec): AutoCert[] {
  const hosts = [...new Set(app.routes.filter((r) => r.tls?.auto && r.host !== undefined).map((r) => r.host!.toLowerCase()))];
  return hosts.map((h) => ({ app: app.name, id: certId(project.name, app.name, h), hosts: [h] }));
}

export const appHasAuto = (a: AppSpec) => a.routes.some((r) => r.tls?.auto);

/** Each machine's tls: auto certificates (a machine that cannot say: none). */
export async function observeAuto(clients: AgentClient[]): Promise<Record<string, AutoServed[]>> {
  const got = await Promise.all(clients.map(async (c) => [c.machine, await c.call<AutoServed[]>("tls.list").catch(() => [])] as const));
  return Object.fromEntries(got);
}

/** Valid for a while yet (not expired): a machine serving it needs no order at deploy. */
export const servesValid = (s: { notAfter?: string } | undefined, now = Date.now()) => Boolean(s?.notAfter && Date.parse(s.notAfter) > now);

export const accountKeyMissing = (project: Project) => !existsSync(accountKeyFile(project));

/** The app's machines (those it is placed on), ranked by name as the agents rank them. */
const ranked = (placement: Record<string, number>) => Object.keys(placement).filter((m) => (placement[m] ?? 0) > 0).sort();

export async function prepareAuto(o: { project: Project; app: AppSpec; clients: AgentClient[]; placement: Record<string, number>; reporter: Reporter }): Promise<AutoCert[]> {
  const certs = autoCerts(o.project, o.app);
  if (!certs.length) return [];
  const { project, reporter } = o;
  const note = (message: string) => reporter.emit({ type: "note", message });
  const accountKey = (await loadAccountKey(project)) ?? (await createAccountKeyFile(project, await keyRecipients(project, note), note));
  const ca = project.acme.caFile ? readFileSync(project.acme.caFile, "utf8") : undefined;
  const names = ranked(o.placement);
  const machines = names.map((name) => ({ name, ...(project.machines[name]?.privateAddress ? { addr: project.machines[name]!.privateAddress } : {}) }));
  const clients = names.map((n) => o.clients.find((c) => c.machine === n)).filter((c): c is AgentClient => Boolean(c));
  for (const cert of certs) {
    const what = cert.hosts.join(", ");
    const served = new Map<string, boolean>();
    await Promise.all(
      clients.map(async (c) => {
        const r = await c
          .call<{ cert?: { notAfter: string } }>("tls.auto", { project: project.name, app: o.app.name, id: cert.id, hosts: cert.hosts, directory: project.acme.directory, email: project.acme.email, accountKey, thumbprint: thumbprint(accountKey), ca, self: c.machine, httpPort: project.machines[c.machine]?.httpPort, machines })
          .catch((e: Error) => {
            throw new UserError(`${c.machine}: tls: auto for ${what} was refused: ${e.message}`, { hint: "nothing was switched; fix the machine, then deploy again" });
          });
        served.set(c.machine, servesValid(r.cert));
      }),
    );
    if ([...served.values()].some(Boolean)) {
      // Someone has it: those without pull it (the agents' tick would too, a little later).
      await pullAll(clients.filter((c) => !served.get(c.machine)), cert, reporter);
      continue;
    }
    await issueFirst(clients, cert, project, reporter);
  }
  return certs;
}

/** The first certificate: rank 0 orders (the next rank when it fails), then the others pull it. */
async function issueFirst(clients: AgentClient[], cert: AutoCert, project: Project, reporter: Reporter): Promise<void> {
  const what = cert.hosts.join(", ");
  const errors: string[] = [];
  for (const c of clients) {
    const started = Date.now();
    reporter.emit({ type: "step", machine: c.machine, step: `certificate for ${what}: ordering over ACME`, status: "start" });
    try {
      const r = await c.call<{ cert: { serial: string; notAfter: string } }>("tls.issue", { id: cert.id });
      reporter.emit({ type: "step", machine: c.machine, step: `certificate for ${what}: issued (serial ${r.cert.serial}, until ${r.cert.notAfter})`, status: "ok", ms: Date.now() - started });
      await pullAll(clients.filter((x) => x !== c), cert, reporter);
      return;
    } catch (e) {
      reporter.emit({ type: "step", machine: c.machine, step: `certificate for ${what}`, status: "failed", ms: Date.now() - started });
      errors.push(`${c.machine}: ${(e as Error).message}`);
    }
  }
  throw new UserError(`no certificate for ${what} from ${project.acme.directory}: ${errors.join("; ")}`, {
    hint: `the CA must reach ${what} on port 80 of one of the app's machines (DNS, firewall); nothing was switched`,
  });
}

/** Followers take the certificate from the machine that has it, over the mesh. A follower that cannot (no mesh)
 *  orders its own rather than serve none. */
async function pullAll(clients: AgentClient[], cert: AutoCert, reporter: Reporter): Promise<void> {
  const what = cert.hosts.join(", ");
  await Promise.all(
    clients.map(async (c) => {
      const r = await c.call<{ pulled: boolean; from?: string; errors: string[] }>("tls.pull", { id: cert.id }).catch((e: Error) => ({ pulled: false, errors: [e.message] }) as { pulled: boolean; from?: string; errors: string[] });
      if (r.pulled) return reporter.emit({ type: "step", machine: c.machine, step: `certificate for ${what}: taken from ${r.from} over the mesh`, status: "ok" });
      reporter.emit({ type: "note", machine: c.machine, message: `certificate for ${what} not pulled (${r.errors.join("; ") || "no peer had a newer one"}): ordering its own` });
      await c.call("tls.issue", { id: cert.id }).catch((e: Error) => {
        throw new UserError(`${c.machine}: no certificate for ${what}: ${e.message}`, { hint: "nothing was switched; `skiff certs status` shows the mesh; then deploy again" });
      });
    }),
  );
}

export const accountFileShown = (project: Project) => relative(project.dir, accountKeyFile(project));
