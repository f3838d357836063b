// The objects as YAML: one document stream (for `kubectl apply -f -`) ending in the notes as comments, or one
// file per object, numbered in apply order, with the notes in a NOTES.txt beside them. Pure: the CLI writes.
import { stringify } from "yaml";
import type { ExportNote, ExportResult, K8sObject } from "./model.ts";
import { STEP } from "./labels.ts";

// No anchors and aliases: shared objects (selectors, probe checks) are written out in full, as people read them.
const yaml = (o: K8sObject) => stringify(o, { lineWidth: 0, aliasDuplicateObjects: false });

/** One line per note, "app: text" or the project's own. */
export const noteLines = (notes: ExportNote[]): string[] => notes.map((n) => (n.app ? `${n.app}: ${n.text}` : n.text));

/** The first lines: what this is and, with pre-deploy Jobs, how to apply it (`target`: FILE or DIR). */
function header(r: ExportResult, project: string, environment: string | undefined, target: string): string[] {
  const lines = [`# skiff export k8s: project ${project}${environment ? `, environment ${environment}` : ""}, namespace ${r.namespace}`];
  const jobs = r.objects.filter((o) => o.metadata.labels?.[STEP] === "pre-deploy");
  if (jobs.length) {
    // As long as the longest hook may run (its Job's deadline).
    const wait = Math.max(...jobs.map((j) => (j.spec as { activeDeadlineSeconds: number }).activeDeadlineSeconds));
    lines.push(
      "# pre_deploy hooks are Jobs labelled skiff/step=pre-deploy: apply them first, wait, then the rest:",
      `#   kubectl apply -f ${target} -l skiff/step=pre-deploy`,
      `#   kubectl wait -n ${r.namespace} --for=condition=complete --timeout=${wait}s job -l skiff/step=pre-deploy`,
      `#   kubectl apply -f ${target} -l 'skiff/step!=pre-deploy'`,
    );
  }
  return lines;
}

/** The whole export as one YAML stream, the notes as comments at its end. */
export function renderStream(r: ExportResult, project: string, environment?: string): string {
  const docs = r.objects.map(yaml);
  const tail = r.notes.length ? ["# Not carried over (see docs/moving-to-kubernetes.md):", ...noteLines(r.notes).map((l) => `#   - ${l}`)] : [];
  return [...header(r, project, environment, "FILE"), ...docs.map((d) => `---\n${d}`.trimEnd()), ...tail].join("\n") + "\n";
}

/** One file per object ("03-service-web.yaml"), in apply order; the notes in NOTES.txt. */
export function renderFiles(r: ExportResult, project: string, environment?: string): { path: string; text: string }[] {
  const width = Math.max(2, String(r.objects.length).length);
  const files = r.objects.map((o, i) => ({ path: `${String(i + 1).padStart(width, "0")}-${o.kind.toLowerCase()}-${o.metadata.name}.yaml`, text: yaml(o) }));
  const notes = [...header(r, project, environment, "DIR").map((l) => l.replace(/^# ?/, "")), "", "Not carried over (see docs/moving-to-kubernetes.md):", ...noteLines(r.notes).map((l) => `  - ${l}`)].join("\n") + "\n";
  return [...files, { path: "NOTES.txt", text: notes }];
}
