// What the Kubernetes export takes and gives. The export is pure: the caller (api/export.ts) reads the images,
// the files and, when asked, the secret values; everything here turns them into plain objects.
import type { Project } from "../config/model.ts";

/** One Kubernetes object as plain data (apiVersion, kind, metadata, and the rest). */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

/** Something skiff does that the manifests do not carry over (listed at the end of the output and on stderr). */
export interface ExportNote {
  /** The app or accessory it is about; none: the project. */
  app?: string;
  /** What, and what to do instead (one line). */
  text: string;
}

/** A file of an app as it goes into the manifests: rendered, or (a template that needs secret values not
 *  included) empty. `secret`: it holds secret values, so it goes into a Secret, not a ConfigMap. */
export interface ExportFile {
  path: string;
  mode: number;
  content: string;
  secret: boolean;
}

export interface ExportInput {
  project: Project;
  namespace: string;
  /** App → the image its pods run; absent: none is known (a process app), and the app is not exported. */
  images: Record<string, string>;
  /** App → its files, in the order of the config. */
  files: Record<string, ExportFile[]>;
  /** Secret name → value, when the user asked for them (--include-secrets); absent: keys with empty values. */
  secretValues?: Record<string, string>;
  /** A route's certificate file (absolute path) → its PEM (certificates are public). */
  certificates: Record<string, string>;
}

export interface ExportResult {
  namespace: string;
  objects: K8sObject[];
  notes: ExportNote[];
}
