// The labels every exported object carries, and the selectors that tie a workload to its pods and Service.
// `component` keeps a pre-deploy Job's pod out of its app's Service: it shares the app's name, not its role.
import type { AppSpec, Project } from "../config/model.ts";

export const NAME = "app.kubernetes.io/name";
export const PART_OF = "app.kubernetes.io/part-of";
export const COMPONENT = "app.kubernetes.io/component";
/** On a pre-deploy Job: `kubectl apply -l skiff/step=pre-deploy` runs it first (docs/moving-to-kubernetes.md). */
export const STEP = "skiff/step";

export type Role = "app" | "accessory" | "pre-deploy";

export const roleOf = (app: AppSpec): Role => (app.accessory ? "accessory" : "app");

/** What a Deployment/StatefulSet selects and a Service sends to. */
export function selector(project: Project, app: AppSpec, role: Role = roleOf(app)): Record<string, string> {
  return { [NAME]: app.name, [PART_OF]: project.name, [COMPONENT]: role };
}

/** The project's label alone, for objects that belong to no one app (the Namespace, the project's Secret). */
export const projectLabels = (project: Project): Record<string, string> => ({ [PART_OF]: project.name });
