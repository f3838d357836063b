// skiff export k8s, the pure part: a project (one environment resolved), the images, files and (when asked)
// secret values the caller read → Kubernetes objects in apply order, and notes on what did not carry over.
import type { AppSpec, Project } from "../config/model.ts";
import type { ExportInput, ExportNote, ExportResult, K8sObject } from "./model.ts";
import { claimName, claims, fileObjects, projectSecret, secretName, secretsFileOf } from "./data.ts";
import { internalNameRewriter, unexportedNames } from "./internal-names.ts";
import { projectLabels } from "./labels.ts";
import { ingress, service } from "./network.ts";
import { deployment, preDeployJob, statefulSet } from "./workloads.ts";

/** The order objects are applied in: what others refer to first. */
const ORDER = ["Namespace", "Secret", "ConfigMap", "PersistentVolumeClaim", "Service", "StatefulSet", "Job", "Deployment", "Ingress"];

export function exportK8s(input: ExportInput): ExportResult {
  const { project, namespace } = input;
  const notes: ExportNote[] = [];
  const apps = Object.values(project.apps);
  // Own keys only: an app named "constructor" has no image unless one was given.
  const imageOf = (a: AppSpec) => (Object.hasOwn(input.images, a.name) ? input.images[a.name] : undefined);
  const exported = apps.filter((a) => imageOf(a) !== undefined);
  for (const a of apps) {
    if (exported.includes(a)) continue;
    const what = a.accessory ? "a process accessory" : "a process app";
    notes.push({ app: a.name, text: `${what} (run: ${a.run}) has no container image: not exported (no ${a.accessory ? "StatefulSet" : "Deployment"}, Service or Ingress). Give it one: --image ${a.name}=REGISTRY/IMAGE:TAG (a container that serves on $PORT)` });
  }
  const rewrite = internalNameRewriter(project.name, namespace, exported.map((a) => a.name));
  const objects: K8sObject[] = [{ apiVersion: "v1", kind: "Namespace", metadata: { name: namespace, labels: projectLabels(project) } }];

  const secretNames = [...new Set(exported.flatMap((a) => Object.values(a.secrets)))];
  if (secretNames.length) {
    objects.push(projectSecret(project, namespace, secretNames, input.secretValues, rewrite, notes));
    if (!input.secretValues) notes.push({ text: `Secret ${secretName(project)} lists ${secretNames.length} key(s) with empty values (${secretNames.sort().join(", ")}): fill them from ${secretsFileOf(project)}, or export with --include-secrets (the values are then in the output in plain base64)` });
  }
  for (const app of exported) objects.push(...appObjects(input, app, imageOf(app)!, rewrite, notes));
  const left = apps.filter((a) => !exported.includes(a)).map((a) => a.name);
  for (const app of exported) {
    for (const [name, value] of Object.entries(app.env)) {
      const names = unexportedNames(project.name, left, value);
      if (names.length) notes.push({ app: app.name, text: `env ${name} calls ${names.join(", ")}, which is not exported: nothing answers there in the cluster` });
    }
  }
  notes.push(...projectNotes(project, exported));
  objects.sort((a, b) => ORDER.indexOf(a.kind) - ORDER.indexOf(b.kind));
  return { namespace, objects, notes };
}

function appObjects(input: ExportInput, app: AppSpec, image: string, rewrite: (s: string) => string, notes: ExportNote[]): K8sObject[] {
  const { project, namespace } = input;
  const given = Object.hasOwn(input.files, app.name) ? input.files[app.name]! : [];
  const files = given.map((f) => ({ ...f, content: rewrite(f.content) }));
  given.forEach((f, i) => {
    if (f.content !== files[i]!.content) notes.push({ app: app.name, text: `file ${f.path}: internal names rewritten to cluster DNS` });
    if (f.secret && !input.secretValues) notes.push({ app: app.name, text: `file ${f.path}: a template with secret values; its Secret is empty (export with --include-secrets, or fill it)` });
  });
  const data = fileObjects(project, app, namespace, files);
  const pvcs = app.accessory ? [] : claims(project, app, namespace);
  const parts = {
    secretName: secretName(project),
    filesConfigMap: data.configMap?.metadata.name,
    filesSecret: data.secret?.metadata.name,
    claims: app.accessory ? undefined : Object.fromEntries(app.volumes.map((v) => [v.name, claimName(app, v.name)])),
    rewrite,
    notes,
  };
  const w = { project, app, namespace, image, files, parts };
  const out: K8sObject[] = [...(data.configMap ? [data.configMap] : []), ...(data.secret ? [data.secret] : []), ...pvcs, service(project, app, namespace)];
  if (app.accessory) out.push(statefulSet(w));
  else {
    const d = deployment(w);
    out.push(d);
    const job = preDeployJob(w);
    if (job) out.push(job);
    const replicas = (d.spec as { replicas: number }).replicas;
    if (pvcs.length && replicas > 1) notes.push({ app: app.name, text: `volumes: skiff keeps one per machine; here ${replicas} replicas share one ReadWriteOnce claim, which works only while they run on one node: use ReadWriteMany storage, or one replica` });
  }
  out.push(...ingress(project, app, namespace, { certificates: input.certificates, secretValues: input.secretValues, notes }));
  appNotes(app, notes);
  return out;
}

/** What an app says that the manifests cannot. */
function appNotes(app: AppSpec, notes: ExportNote[]): void {
  const n = (text: string) => notes.push({ app: app.name, text });
  if (app.volumes.length) n(`volume claims ask for 1Gi each (skiff's volumes have no size): set the size your data needs`);
  if (app.backups) n(`backups (${app.backups.kind}, "${app.backups.schedule}"): not exported (a CronJob or Velero does that in a cluster)`);
  if (app.stopSignal) n(`stop_signal ${app.stopSignal}: not exported; the image's STOPSIGNAL applies (the postgres image's is SIGINT)`);
  if (app.logMaxBytes !== undefined) n("logs.max_size: not exported (the kubelet rotates container logs)");
  if (app.health.intervalMs < 1000 || app.health.intervalMs % 1000 || app.health.timeoutMs % 1000) n("health interval/timeout below or between whole seconds: probes count whole seconds (rounded up)");
  if (!app.accessory) {
    if (app.deploy.canaryWaitMs > 0) n("deploy.canary_wait: not exported (a RollingUpdate has no canary pause; Argo Rollouts or Flagger have)");
    if (app.deploy.keepWarm) n("deploy.keep_warm: not exported (a rollback is a new rollout: `kubectl rollout undo`)");
  }
}

/** What the project as a whole does that the manifests do not carry over. */
function projectNotes(project: Project, exported: AppSpec[]): ExportNote[] {
  const out: ExportNote[] = [];
  const apps = exported.filter((a) => !a.accessory);
  if (apps.length) out.push({ text: "rollouts: skiff's canary wave and its automatic rollback on a failed health gate are not exported; a Deployment rolls start-first (maxUnavailable 0) and stops at a failure (`kubectl rollout undo`)" });
  if (project.alerts) out.push({ text: "alerts: not exported (Prometheus alerting rules do that in a cluster)" });
  if (project.metrics) out.push({ text: "metrics.listen: not exported (the agents' /metrics; scrape the pods or the ingress controller instead)" });
  if (Object.keys(project.machines).length > 1) out.push({ text: "mutual TLS between machines (the mesh) and skiff's firewall: not exported; pod-to-pod traffic is as private as your cluster's network (a NetworkPolicy, a CNI with encryption or a service mesh)" });
  return out;
}
