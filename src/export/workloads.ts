// The workloads: a Deployment per app (start-first rolling: maxUnavailable 0, maxSurge from max_parallel), a
// StatefulSet per accessory (one pod, replaced stop-first, its volumes claimed by templates), and a Job per
// pre_deploy hook, labelled so it can be applied and waited for before the rest (a Helm-free pre-step).
import type { AppSpec, Project } from "../config/model.ts";
import type { IIoK8sApiAppsV1DeploymentSpec as DeploymentSpec } from "kubernetes-models/apps/v1/DeploymentSpec";
import type { IIoK8sApiAppsV1StatefulSetSpec as StatefulSetSpec } from "kubernetes-models/apps/v1/StatefulSetSpec";
import type { IIoK8sApiBatchV1JobSpec as JobSpec } from "kubernetes-models/batch/v1/JobSpec";
import type { ExportFile, K8sObject } from "./model.ts";
import { claimSpec } from "./data.ts";
import { selector, STEP } from "./labels.ts";
import { dnsLabel, shortHash } from "./names.ts";
import { container, gracePeriod, podVolumeName, podVolumes, type PodParts } from "./pod.ts";
import { placement, replicas } from "./placement.ts";
import { seconds } from "./quantities.ts";

interface WorkloadInput {
  project: Project;
  app: AppSpec;
  namespace: string;
  image: string;
  files: ExportFile[];
  parts: PodParts;
}

function podSpec(w: WorkloadInput, sel: Record<string, string>) {
  const volumes = podVolumes(w.app, w.files, w.parts);
  return {
    // skiff gives no service-link variables (FOO_SERVICE_HOST…): the app sees only its own env.
    enableServiceLinks: false,
    terminationGracePeriodSeconds: gracePeriod(w.app),
    containers: [container(w.app, w.image, w.files, w.parts)],
    ...(volumes.length ? { volumes } : {}),
    ...placement(w.app, sel, w.parts.notes),
  };
}

export function deployment(w: WorkloadInput): K8sObject {
  const sel = selector(w.project, w.app);
  const d = w.app.deploy;
  const spec: DeploymentSpec = {
    replicas: replicas(w.project, w.app),
    selector: { matchLabels: sel },
    // Start-first as skiff rolls: no old pod goes before a new one is ready; max_parallel new ones at a time.
    strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: d.maxParallel } },
    revisionHistoryLimit: d.keepReleases,
    // The health deadline of a new instance: a rollout that makes no progress this long is marked failed.
    progressDeadlineSeconds: seconds(w.app.health.deadlineMs),
    template: { metadata: { labels: sel }, spec: podSpec(w, sel) },
  };
  return { apiVersion: "apps/v1", kind: "Deployment", metadata: { name: w.app.name, namespace: w.namespace, labels: sel }, spec };
}

export function statefulSet(w: WorkloadInput): K8sObject {
  const sel = selector(w.project, w.app);
  const spec: StatefulSetSpec = {
    serviceName: w.app.name,
    replicas: 1,
    selector: { matchLabels: sel },
    // One pod: the old one stops before the new one starts, as an accessory's upgrade does in skiff.
    updateStrategy: { type: "RollingUpdate" },
    podManagementPolicy: "OrderedReady",
    revisionHistoryLimit: w.app.deploy.keepReleases,
    template: { metadata: { labels: sel }, spec: podSpec(w, sel) },
    volumeClaimTemplates: w.app.volumes.filter((v) => v.path.startsWith("/")).map((v) => ({ metadata: { name: podVolumeName(v.name), labels: sel }, spec: claimSpec() })),
  };
  return { apiVersion: "apps/v1", kind: "StatefulSet", metadata: { name: w.app.name, namespace: w.namespace, labels: sel }, spec };
}

/** The pre_deploy hook as a Job of the same image, env, secrets and files, named after the image and the command
 *  (a Job cannot be changed once made: a new release is a new Job). */
export function preDeployJob(w: WorkloadInput): K8sObject | undefined {
  const hook = w.app.hooks.preDeploy;
  if (!hook) return undefined;
  const sel = selector(w.project, w.app, "pre-deploy");
  const full = container(w.app, w.image, w.files, { ...w.parts, notes: [] });
  const { readinessProbe: _r, livenessProbe: _l, startupProbe: _s, lifecycle: _p, ports: _o, volumeMounts, ...run } = full;
  // Its files, not the app's volumes: skiff's hook runs in a one-off instance without them, and a claim held by the
  // app's pods (ReadWriteOnce) could not be mounted on another node anyway.
  const fileMounts = (volumeMounts ?? []).filter((m) => m.name === "files" || m.name === "secret-files");
  const fileVolumes = podVolumes(w.app, w.files, { ...w.parts, claims: undefined, notes: [] });
  const spec: JobSpec = {
    backoffLimit: 0,
    activeDeadlineSeconds: seconds(w.app.hooks.timeoutMs),
    template: {
      metadata: { labels: sel },
      spec: { restartPolicy: "Never", enableServiceLinks: false, containers: [{ ...run, command: ["/bin/sh", "-c", hook], ...(fileMounts.length ? { volumeMounts: fileMounts } : {}) }], ...(fileVolumes.length ? { volumes: fileVolumes } : {}) },
    },
  };
  const name = dnsLabel(w.app.name, "pre-deploy", shortHash(JSON.stringify([w.image, hook])));
  return { apiVersion: "batch/v1", kind: "Job", metadata: { name, namespace: w.namespace, labels: { ...sel, [STEP]: "pre-deploy" } }, spec };
}
