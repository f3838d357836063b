// An app's pod: its container (image, port, env, secrets, resources, probes, the preStop pause), its files and
// volumes, and where it may run. Shared by the Deployment, the accessory's StatefulSet and the pre-deploy Job.
import type { AppSpec } from "../config/model.ts";
import type { IIoK8sApiCoreV1Container as Container } from "kubernetes-models/v1/Container";
import type { IIoK8sApiCoreV1EnvVar as EnvVar } from "kubernetes-models/v1/EnvVar";
import type { IIoK8sApiCoreV1Probe as Probe } from "kubernetes-models/v1/Probe";
import type { IIoK8sApiCoreV1Volume as Volume } from "kubernetes-models/v1/Volume";
import type { IIoK8sApiCoreV1VolumeMount as VolumeMount } from "kubernetes-models/v1/VolumeMount";
import type { ExportFile, ExportNote } from "./model.ts";
import { dnsLabel, shortHash } from "./names.ts";
import { cpuQuantity, memoryQuantity, seconds } from "./quantities.ts";

/** What skiff's agent does with a failing instance (src/agent/restart-policy.ts): restarted after 3 failed checks
 *  that span at least 10 s. The liveness probe asks the same. */
const FAILS_BEFORE_RESTART = 3;
const UNHEALTHY_RESTART_MS = 10_000;
/** HAProxy takes an instance out after 2 failed checks (proxy/config.ts, `fall 2`): so does the readiness probe. */
const FALL = 2;
/** The pause before SIGTERM: how long endpoints and ingress controllers may take to stop sending new requests
 *  (Kubernetes removes a terminating pod from them asynchronously; HAProxy in skiff, before the drain). */
const PRESTOP_PAUSE_S = 5;

export interface PodParts {
  /** The Secret holding the project's secrets, for secretKeyRef. */
  secretName: string;
  /** The ConfigMap / Secret holding the app's files (absent: none). */
  filesConfigMap?: string;
  filesSecret?: string;
  /** Volume name → PersistentVolumeClaim; absent for an accessory (its StatefulSet claims them). */
  claims?: Record<string, string>;
  rewrite: (text: string) => string;
  notes: ExportNote[];
}

/** The pod volume of a skiff volume (prefixed, so no skiff name meets the files' volumes). */
export const podVolumeName = (volume: string): string => dnsLabel("vol", volume);

/** A file's key in its ConfigMap or Secret: the path with "/" and other characters that keys refuse made "_";
 *  a hash of the path when two paths would meet. */
export function fileKeys(files: ExportFile[]): string[] {
  const keys: string[] = [];
  for (const f of files) {
    let key = f.path.replace(/^\/+/, "").replace(/[^-._a-zA-Z0-9]/g, "_").slice(0, 200) || "file";
    if (keys.includes(key) || /^\.\.?$/.test(key)) key = `${key}-${shortHash(f.path)}`;
    keys.push(key);
  }
  return keys;
}

const isAbsolute = (p: string) => p.startsWith("/");

function probes(app: AppSpec, port: string): { readinessProbe: Probe; livenessProbe: Probe; startupProbe: Probe } {
  const h = app.health;
  const check = h.path ? { httpGet: { path: h.path, port } } : { tcpSocket: { port } };
  const periodSeconds = seconds(h.intervalMs);
  const timeoutSeconds = seconds(h.timeoutMs);
  return {
    readinessProbe: { ...check, periodSeconds, timeoutSeconds, successThreshold: h.healthyThreshold, failureThreshold: FALL },
    livenessProbe: { ...check, periodSeconds, timeoutSeconds, failureThreshold: Math.max(FAILS_BEFORE_RESTART, Math.ceil(UNHEALTHY_RESTART_MS / 1000 / periodSeconds) + 1) },
    // The deploy's deadline: a new instance has this long to become healthy before liveness may restart it.
    startupProbe: { ...check, periodSeconds, timeoutSeconds, failureThreshold: Math.max(1, Math.ceil(h.deadlineMs / 1000 / periodSeconds)) },
  };
}

/** The app's port name in its pod (a Service's targetPort and the probes use it). */
export const portName = (app: AppSpec): string => (app.protocol === "tcp" ? "tcp" : "http");

function env(app: AppSpec, parts: PodParts, processApp: boolean): EnvVar[] {
  const own = new Set([...Object.keys(app.env), ...Object.keys(app.secrets)]);
  // What skiff gives every instance (runtime/docker.ts, agent/instances.ts), unless the app sets it itself.
  const given: EnvVar[] = [
    { name: "PORT", value: String(app.port) },
    ...(processApp ? [{ name: "HOST", value: "0.0.0.0" }] : []),
    { name: "SKIFF_APP", value: app.name },
    { name: "SKIFF_INSTANCE", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
    { name: "SKIFF_MACHINE", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } },
  ];
  const out: EnvVar[] = given.filter((e) => !own.has(e.name));
  for (const [name, value] of Object.entries(app.env)) {
    const v = parts.rewrite(value);
    if (v !== value) parts.notes.push({ app: app.name, text: `env ${name}: internal names rewritten to cluster DNS (${v})` });
    out.push({ name, value: v });
  }
  for (const [name, secret] of Object.entries(app.secrets)) out.push({ name, valueFrom: { secretKeyRef: { name: parts.secretName, key: secret } } });
  return out;
}

/** The container of the app's pod. `processApp`: a `run:` app given an image with --image (it serves on $PORT). */
export function container(app: AppSpec, image: string, files: ExportFile[], parts: PodParts): Container {
  const processApp = Boolean(app.run);
  const res = app.resources;
  const amounts: Record<string, string> = {
    ...(res.cpus !== undefined ? { cpu: cpuQuantity(res.cpus) } : {}),
    ...(res.memoryBytes !== undefined ? { memory: memoryQuantity(res.memoryBytes) } : {}),
  };
  const port = portName(app);
  const pause = Math.min(PRESTOP_PAUSE_S, seconds(app.deploy.drainMs, 0));
  const volumeMounts = mounts(app, files);
  return {
    name: app.name,
    image,
    ports: [{ name: port, containerPort: app.port, protocol: "TCP" }],
    env: env(app, parts, processApp),
    // Requests and limits alike: skiff checks placement against the declared amounts and enforces them as limits.
    ...(Object.keys(amounts).length ? { resources: { requests: amounts, limits: amounts } } : {}),
    ...probes(app, port),
    // An accessory has no drain (it stops first, then its successor starts): no pause either.
    ...(pause ? { lifecycle: { preStop: { sleep: { seconds: pause } } } } : {}),
    ...(volumeMounts.length ? { volumeMounts } : {}),
  };
}

function mounts(app: AppSpec, files: ExportFile[]): VolumeMount[] {
  const out: VolumeMount[] = [];
  const keys = fileKeys(files);
  files.forEach((f, i) => {
    if (!isAbsolute(f.path)) return;
    out.push({ name: f.secret ? "secret-files" : "files", mountPath: f.path, subPath: keys[i]!, readOnly: true });
  });
  for (const v of app.volumes) if (isAbsolute(v.path)) out.push({ name: podVolumeName(v.name), mountPath: v.path });
  return out;
}

/** The pod's volumes: the files' ConfigMap and Secret, and a claim per skiff volume (a Deployment's; a
 *  StatefulSet's come from its claim templates). Relative paths (a process app's) cannot be placed: noted. */
export function podVolumes(app: AppSpec, files: ExportFile[], parts: PodParts): Volume[] {
  const out: Volume[] = [];
  const keys = fileKeys(files);
  const items = (secret: boolean) => files.flatMap((f, i) => (isAbsolute(f.path) && f.secret === secret ? [{ key: keys[i]!, path: keys[i]!, mode: f.mode }] : []));
  for (const f of files) if (!isAbsolute(f.path)) parts.notes.push({ app: app.name, text: `file ${f.path}: a path relative to a process app's working directory; not exported` });
  for (const v of app.volumes) if (!isAbsolute(v.path)) parts.notes.push({ app: app.name, text: `volume ${v.name} (${v.path}): a path relative to a process app's working directory; not exported` });
  const plain = items(false);
  const secret = items(true);
  if (parts.filesConfigMap && plain.length) out.push({ name: "files", configMap: { name: parts.filesConfigMap, items: plain } });
  if (parts.filesSecret && secret.length) out.push({ name: "secret-files", secret: { secretName: parts.filesSecret, items: secret } });
  if (parts.claims) for (const v of app.volumes) if (isAbsolute(v.path)) out.push({ name: podVolumeName(v.name), persistentVolumeClaim: { claimName: parts.claims[v.name]! } });
  return out;
}

/** skiff's stop: drain (open requests finish) then stop_timeout until SIGKILL. Kubernetes' grace period covers
 *  both: the preStop pause and the app's own shutdown after SIGTERM. */
export function gracePeriod(app: AppSpec): number {
  return seconds(app.deploy.drainMs, 0) + app.deploy.stopTimeoutS;
}
