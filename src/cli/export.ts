// skiff export k8s: the project (this environment) as Kubernetes manifests on stdout (`--out -`, the default) or
// one file per object in a directory (`--out DIR`); what does not carry over goes to stderr and, as comments, to
// the end of the output. docs/moving-to-kubernetes.md says what maps to what.
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { UserError } from "../errors.ts";
import { noteLines } from "../export/render.ts";
import { skiffFor, type Ctx } from "./context.ts";

export interface ExportFlags {
  out?: string;
  namespace?: string;
  imageTag?: string;
  registry?: string;
  image?: string[];
  includeSecrets?: boolean;
}

/** `--image web=REF` (repeatable) → { web: REF }. */
export function imageFlags(values: string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const at = v.indexOf("=");
    if (at < 1 || at === v.length - 1) throw new UserError(`--image ${v}: expected APP=IMAGE`, { exitCode: 2, hint: "e.g. --image api=registry.example.com/api:1.4" });
    out[v.slice(0, at)] = v.slice(at + 1);
  }
  return out;
}

export async function exportK8sCommand(ctx: Ctx, o: ExportFlags): Promise<void> {
  const out = o.out ?? "-";
  if (out !== "-" && existsSync(out) && !statSync(out).isDirectory()) throw new UserError(`${out} is a file, not a directory`, { exitCode: 2, hint: "name a new or empty directory, or - for stdout" });
  if (out !== "-" && existsSync(out) && readdirSync(out).length) throw new UserError(`${out} is not empty`, { exitCode: 2, hint: "name a new or empty directory (the export writes one file per object there), or - for stdout" });
  const r = await skiffFor(ctx).exportK8s({ namespace: o.namespace, imageTag: o.imageTag, registry: o.registry, images: imageFlags(o.image), includeSecrets: o.includeSecrets });
  if (ctx.json) ctx.out(JSON.stringify({ namespace: r.namespace, objects: r.objects, notes: r.notes }));
  else if (out === "-") process.stdout.write(r.yaml);
  else {
    mkdirSync(out, { recursive: true });
    for (const f of r.files) writeFileSync(join(out, f.path), f.text, { mode: f.path === "NOTES.txt" ? 0o644 : 0o600 });
    process.stderr.write(`wrote ${r.files.length - 1} object(s) to ${out}/ (apply order in the names)\n`);
  }
  if (o.includeSecrets) process.stderr.write("the output holds secret values (base64, not encrypted): keep it out of git and logs\n");
  if (r.notes.length) process.stderr.write(["not carried over (docs/moving-to-kubernetes.md):", ...noteLines(r.notes).map((l) => `  - ${l}`)].join("\n") + "\n");
}
