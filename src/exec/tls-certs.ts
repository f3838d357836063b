// Routes with `tls: { cert, key }`: the certificate from the repository and its
// key from the secrets, read and checked here (the key must be the
// certificate's, the certificate must cover each host), then sent at each
// deploy to every machine (RPC tls.set), before the rollout: a machine serves
// the route over HTTPS once its activation adds the HTTPS frontend, and a new
// certificate on a running frontend is swapped in live.
import { X509Certificate, createPrivateKey } from "node:crypto";
import { readFileSync } from "node:fs";
import { relative } from "node:path";
import type { AppSpec, Project } from "../config/model.ts";
import { parseChain } from "../config/tls-checks.ts";
import type { Reporter } from "../contracts/events.ts";
import { UserError } from "../errors.ts";
import { secretsFile, type Secrets } from "../secrets/store.ts";
import type { AgentClient } from "../transport/agent-client.ts";

/** One certificate file with its key: loaded once per machine for every tls route host that uses it. */
export interface RouteCert {
  app: string;
  id: string;
  hosts: string[];
  file: string;
  cert: string;
  key: string;
  notAfter: string;
}

export const appHasTls = (a: AppSpec) => a.routes.some((r) => r.tls && !r.tls.auto);

export function routeCerts(project: Project, app: AppSpec, secrets: Secrets): RouteCert[] {
  const byFile = new Map<string, RouteCert>();
  app.routes.forEach((r, i) => {
    if (!r.tls || r.tls.auto || r.host === undefined) return;
    const where = `${relative(process.cwd(), project.file) || project.file}: apps.${app.name}.routes[${i}].tls`;
    const known = byFile.get(r.tls.cert);
    if (known) {
      if (!known.hosts.includes(r.host)) known.hosts.push(r.host);
      return;
    }
    if (!Object.hasOwn(secrets, r.tls.key)) throw new UserError(`${where}.key: no secret "${r.tls.key}" in ${relative(project.dir, secretsFile(project))}`, { hint: `store the certificate's private key: skiff secrets set ${r.tls.key} < key.pem` });
    let leaf: X509Certificate;
    let text: string;
    try {
      text = readFileSync(r.tls.cert, "utf8");
      leaf = parseChain(text)[0]!;
    } catch (e) {
      throw new UserError(`${where}.cert: ${relative(project.dir, r.tls.cert)} is not a readable PEM certificate (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    let matches = false;
    try {
      matches = leaf.checkPrivateKey(createPrivateKey(secrets[r.tls.key]!));
    } catch {
      throw new UserError(`${where}.key: secret "${r.tls.key}" is not a PEM private key`, { hint: `skiff secrets set ${r.tls.key} < key.pem` });
    }
    if (!matches) throw new UserError(`${where}.key: secret "${r.tls.key}" is not the private key of ${relative(project.dir, r.tls.cert)}`, { hint: "store the key that goes with this certificate (skiff secrets set), or commit the certificate that goes with the key" });
    const id = `${project.name}_${app.name}_${r.host}`.toLowerCase().replace(/[^a-z0-9_.-]/g, "-");
    byFile.set(r.tls.cert, { app: app.name, id, hosts: [r.host], file: relative(project.dir, r.tls.cert), cert: text, key: secrets[r.tls.key]!, notAfter: new Date(leaf.validTo).toISOString() });
  });
  for (const c of byFile.values()) {
    const leaf = parseChain(c.cert)[0]!;
    const miss = c.hosts.find((h) => !leaf.checkHost(h));
    if (miss) throw new UserError(`${c.file} is not a certificate for ${miss}`, { hint: "use a certificate whose names include the route's host" });
  }
  return [...byFile.values()];
}

/** Sends an app's certificates to these machines; a refusal names the machine. */
export async function sendCerts(clients: AgentClient[], certs: RouteCert[], reporter: Reporter): Promise<void> {
  if (!certs.length) return;
  await Promise.all(
    clients.map(async (c) => {
      for (const cert of certs) {
        try {
          const r = await c.call<{ applied: "live" | "disk" }>("tls.set", { id: cert.id, hosts: cert.hosts, cert: cert.cert, key: cert.key });
          reporter.emit({ type: "step", machine: c.machine, step: `certificate for ${cert.hosts.join(", ")} ${r.applied === "live" ? "loaded" : "stored"}`, status: "ok" });
        } catch (e) {
          throw new UserError(`${c.machine}: the certificate for ${cert.hosts.join(", ")} was refused: ${(e as Error).message}`, { hint: "nothing was switched; fix the certificate or the machine, then deploy again" });
        }
      }
    }),
  );
}

/** After a rollout that served: each machine drops the app's certificates its routes no longer name. A machine
 *  that does not answer keeps them (harmless: no frontend routes to them) and says so. */
export async function pruneCerts(clients: AgentClient[], project: string, app: string, certs: { id: string }[], reporter: Reporter): Promise<void> {
  const keep = certs.map((c) => c.id);
  await Promise.all(
    clients.map(async (c) => {
      try {
        const r = await c.call<{ removed: string[] }>("tls.prune", { project, app, keep });
        if (r.removed.length) reporter.emit({ type: "step", machine: c.machine, step: `${app}: certificate${r.removed.length === 1 ? "" : "s"} no route names removed (${r.removed.join(", ")})`, status: "ok" });
      } catch (e) {
        reporter.emit({ type: "note", machine: c.machine, message: `${app}: old certificates not removed: ${(e as Error).message}` });
      }
    }),
  );
}
