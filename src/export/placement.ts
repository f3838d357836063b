// Where an app's pods may run. skiff's machines become nodes that carry skiff's words as node labels (the doc
// says how to label them): `skiff/machine=NAME` for an app's `machines:`, `skiff/label-LABEL=true` for each of
// its `labels:`; `strategy: spread` becomes a topology spread over nodes. binpack and a custom placement
// function are the scheduler's business there: noted, not exported.
import type { AppSpec, Project } from "../config/model.ts";
import type { IIoK8sApiCoreV1PodSpec as PodSpec } from "kubernetes-models/v1/PodSpec";
import type { ExportNote } from "./model.ts";
import { dnsLabel } from "./names.ts";

export const MACHINE_LABEL = "skiff/machine";
export const nodeLabel = (label: string): string => `skiff/${dnsLabel("label", label)}`;

export function placement(app: AppSpec, selector: Record<string, string>, notes: ExportNote[]): Pick<PodSpec, "nodeSelector" | "affinity" | "topologySpreadConstraints"> {
  const out: Pick<PodSpec, "nodeSelector" | "affinity" | "topologySpreadConstraints"> = {};
  if (app.accessory) {
    notes.push({ app: app.name, text: `pinned to machine ${app.accessory.machine} in skiff; here its volume claims keep its data and the scheduler places its pod (add nodeSelector ${MACHINE_LABEL}: ${app.accessory.machine} to keep it on one node)` });
    return out;
  }
  const p = app.placement;
  if (p.labels.length) out.nodeSelector = Object.fromEntries(p.labels.map((l) => [nodeLabel(l), "true"]));
  if (p.machines) {
    out.affinity = { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: MACHINE_LABEL, operator: "In", values: [...p.machines] }] }] } } };
  }
  if (app.place) notes.push({ app: app.name, text: "custom placement function (place in skiff.config.ts): not exported; the scheduler places the pods" });
  else if (p.strategy === "binpack") notes.push({ app: app.name, text: "strategy binpack: not exported (a scheduler profile with the MostAllocated scoring strategy does it for a whole cluster)" });
  if (p.strategy === "spread" && !app.place) {
    // skiff spreads as evenly as the machines allow and never refuses a placement for it: ScheduleAnyway.
    out.topologySpreadConstraints = [{ maxSkew: 1, topologyKey: "kubernetes.io/hostname", whenUnsatisfiable: "ScheduleAnyway", labelSelector: { matchLabels: selector } }];
  }
  return out;
}

/** Instances in all: `instances`, or one per eligible machine (skiff's default). */
export function replicas(project: Project, app: AppSpec): number {
  if (app.instances !== undefined) return app.instances;
  const p = app.placement;
  return Object.values(project.machines).filter((m) => (!p.machines || p.machines.includes(m.name)) && p.labels.every((l) => m.labels.includes(l))).length;
}
