// How traffic reaches an app: a Service of the app's own name on the port its internal name serves on (80 for
// HTTP, `internal_port` for TCP), so NAME.internal maps to NAME.NAMESPACE.svc; an Ingress from its public routes,
// with TLS where a route has it (a kubernetes.io/tls Secret from the repository's certificate and the key's
// secret, or, for `tls: auto`, a Secret for cert-manager or you to fill).
import type { AppSpec, Project } from "../config/model.ts";
import type { IIoK8sApiCoreV1ServiceSpec as ServiceSpec } from "kubernetes-models/v1/ServiceSpec";
import type { IIoK8sApiNetworkingV1IngressSpec as IngressSpec } from "kubernetes-models/networking.k8s.io/v1/IngressSpec";
import type { ExportNote, K8sObject } from "./model.ts";
import { selector } from "./labels.ts";
import { dnsLabel, shortHash } from "./names.ts";
import { portName } from "./pod.ts";

export const HTTP_NAME_PORT = 80;

export function service(project: Project, app: AppSpec, namespace: string): K8sObject {
  const port = app.protocol === "tcp" ? app.internalPort ?? app.port : HTTP_NAME_PORT;
  const spec: ServiceSpec = { type: "ClusterIP", selector: selector(project, app), ports: [{ name: portName(app), port, targetPort: portName(app), protocol: "TCP" }] };
  return { apiVersion: "v1", kind: "Service", metadata: { name: app.name, namespace, labels: selector(project, app) }, spec };
}

const tlsSecretName = (app: AppSpec, host: string | undefined) => dnsLabel(app.name, "tls", shortHash(host ?? "*"));

/** The app's Ingress (none without routes) and the TLS Secrets its routes name. */
export function ingress(project: Project, app: AppSpec, namespace: string, o: { certificates: Record<string, string>; secretValues?: Record<string, string>; notes: ExportNote[] }): K8sObject[] {
  if (!app.routes.length) return [];
  const byHost = new Map<string | undefined, string[]>();
  for (const r of app.routes) byHost.set(r.host, [...(byHost.get(r.host) ?? []), r.path]);
  const backend = { service: { name: app.name, port: { number: HTTP_NAME_PORT } } };
  const rules: IngressSpec["rules"] = [...byHost].map(([host, paths]) => ({ ...(host ? { host } : {}), http: { paths: [...new Set(paths)].map((path) => ({ path, pathType: "Prefix" as const, backend })) } }));
  const tls: { hosts?: string[]; secretName: string }[] = [];
  const secrets: K8sObject[] = [];
  for (const r of app.routes) {
    if (!r.tls) continue;
    const name = tlsSecretName(app, r.host);
    if (tls.some((t) => t.secretName === name)) continue;
    tls.push({ ...(r.host ? { hosts: [r.host] } : {}), secretName: name });
    const shown = r.host ?? "(any host)";
    if (r.tls.hstsS) o.notes.push({ app: app.name, text: `route ${shown}: hsts (max-age ${r.tls.hstsS}) is set by your ingress controller (ingress-nginx: hsts-max-age in its ConfigMap); not exported` });
    if (r.tls.auto) {
      o.notes.push({ app: app.name, text: `route ${shown}: tls auto (ACME on the machines) is not exported: Secret ${name} is left for cert-manager (annotate the Ingress with cert-manager.io/cluster-issuer) or for you to create` });
      continue;
    }
    const cert = o.certificates[r.tls.cert] ?? "";
    const key = o.secretValues?.[r.tls.key];
    if (o.secretValues && key === undefined) o.notes.push({ app: app.name, text: `route ${shown}: its key secret ${r.tls.key} is not set: tls.key is empty` });
    else if (!o.secretValues) o.notes.push({ app: app.name, text: `route ${shown}: Secret ${name} has an empty tls.key (the secret ${r.tls.key}); fill it or export with --include-secrets` });
    const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");
    secrets.push({ apiVersion: "v1", kind: "Secret", metadata: { name, namespace, labels: selector(project, app) }, type: "kubernetes.io/tls", data: { "tls.crt": b64(cert), "tls.key": key === undefined ? "" : b64(key) } });
  }
  const spec: IngressSpec = { rules, ...(tls.length ? { tls } : {}) };
  return [...secrets, { apiVersion: "networking.k8s.io/v1", kind: "Ingress", metadata: { name: app.name, namespace, labels: selector(project, app) }, spec }];
}
