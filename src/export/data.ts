// The data an app's pods mount or read: the project's Secret, the app's files (a ConfigMap, and a Secret for
// templates that hold secret values), and a PersistentVolumeClaim per volume. Secret values are in the output
// only when the caller passed them (--include-secrets); otherwise every key is there with an empty value.
import type { AppSpec, Project } from "../config/model.ts";
import type { ExportFile, ExportNote, K8sObject } from "./model.ts";
import { projectLabels, selector } from "./labels.ts";
import { dnsLabel, shortHash } from "./names.ts";
import { fileKeys } from "./pod.ts";

/** What a claim asks for: skiff's volumes have no size (they take what the machine's disk has). */
export const DEFAULT_VOLUME_SIZE = "1Gi";

const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");

/** The project's Secret name. */
export const secretName = (project: Project): string => dnsLabel(project.name, "secrets");

/** One Secret with every secret the exported apps read, by its name in secrets/<environment>.age. */
export function projectSecret(project: Project, namespace: string, names: string[], values: Record<string, string> | undefined, rewrite: (s: string) => string, notes: ExportNote[]): K8sObject {
  const data: Record<string, string> = {};
  for (const n of [...names].sort()) {
    if (!values) data[n] = "";
    else if (!Object.hasOwn(values, n)) {
      data[n] = "";
      notes.push({ text: `secret ${n} is not set in ${secretsFileOf(project)}: its value is empty` });
    } else {
      const v = rewrite(values[n]!);
      if (v !== values[n]) notes.push({ text: `secret ${n}: internal names rewritten to cluster DNS` });
      data[n] = b64(v);
    }
  }
  return { apiVersion: "v1", kind: "Secret", metadata: { name: secretName(project), namespace, labels: projectLabels(project) }, type: "Opaque", data };
}

export const secretsFileOf = (project: Project) => `secrets/${project.environment ?? "default"}.age`;

/** The app's files: plain ones in a ConfigMap, secret-holding ones in a Secret; each named after its content, so a
 *  changed file rolls the pods as a new skiff release would. */
export function fileObjects(project: Project, app: AppSpec, namespace: string, files: ExportFile[]): { configMap?: K8sObject; secret?: K8sObject } {
  const keys = fileKeys(files);
  const pick = (secret: boolean) => files.flatMap((f, i) => (f.secret === secret && f.path.startsWith("/") ? [[keys[i]!, f.content] as const] : []));
  const labels = selector(project, app);
  const out: { configMap?: K8sObject; secret?: K8sObject } = {};
  const plain = pick(false);
  if (plain.length) {
    const data = Object.fromEntries(plain);
    out.configMap = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: dnsLabel(app.name, "files", shortHash(JSON.stringify(data))), namespace, labels }, data };
  }
  const held = pick(true);
  if (held.length) {
    const data = Object.fromEntries(held.map(([k, v]) => [k, b64(v)]));
    out.secret = { apiVersion: "v1", kind: "Secret", metadata: { name: dnsLabel(app.name, "files", shortHash(JSON.stringify(data))), namespace, labels }, type: "Opaque", data };
  }
  return out;
}

/** A claim per volume of an app (a Deployment's; an accessory's come from its StatefulSet's templates). */
export function claims(project: Project, app: AppSpec, namespace: string): K8sObject[] {
  return app.volumes.filter((v) => v.path.startsWith("/")).map((v) => ({ apiVersion: "v1", kind: "PersistentVolumeClaim", metadata: { name: claimName(app, v.name), namespace, labels: selector(project, app) }, spec: claimSpec() }));
}

export const claimName = (app: AppSpec, volume: string): string => dnsLabel(app.name, volume);

export const claimSpec = () => ({ accessModes: ["ReadWriteOnce" as const], resources: { requests: { storage: DEFAULT_VOLUME_SIZE } } });
