// skiff export k8s: reads what the pure export needs — each app's image (as written, the one a build of this
// tree has or had here, or what the caller names), its files (templates rendered), the certificates, and the
// secret values only when asked — then hands them to src/export and renders the YAML.
import { readFileSync } from "node:fs";
import { relative } from "node:path";
import type { AppSpec, Project } from "../config/model.ts";
import { UserError } from "../errors.ts";
import { builtRef, dockerCommand, localImageId } from "../build/image.ts";
import { renderTemplate } from "../exec/files.ts";
import { readSecrets } from "../secrets/store.ts";
import { runProcess } from "../transport/process.ts";
import { exportK8s } from "../export/k8s.ts";
import type { ExportFile, ExportNote, K8sObject } from "../export/model.ts";
import { dnsLabel, isDnsLabel } from "../export/names.ts";
import { renderFiles, renderStream } from "../export/render.ts";

export type { ExportNote, K8sObject };

export interface ExportK8sOptions {
  /** The namespace of every object (a Namespace object leads the output). Default: the project's name, with
   *  the environment's after a "-" (`shop-staging`). */
  namespace?: string;
  /** The tag of every `build:` app's image, instead of the one found on this computer. */
  imageTag?: string;
  /** Where the cluster pulls `build:` images from: `registry.example.com/team` makes
   *  `registry.example.com/team/<project>-<app>:<tag>` (skiff's local names are `skiff/<project>-<app>:<tag>`). */
  registry?: string;
  /** App → image, for any app; the only way a process app (`run:`) is exported. */
  images?: Record<string, string>;
  /** Put the secret values (decrypted with your age key) into the Secrets. Default: keys with empty values. */
  includeSecrets?: boolean;
}

export interface ExportK8sResult {
  /** The namespace every object is in. */
  namespace: string;
  /** The objects in apply order, as plain data. */
  objects: K8sObject[];
  /** What is not carried over (also at the end of `yaml`, as comments). */
  notes: ExportNote[];
  /** One YAML document stream, notes at its end. */
  yaml: string;
  /** The same as one file per object (numbered in apply order) plus NOTES.txt. */
  files: { path: string; text: string }[];
}

const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const REGISTRY = /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d{1,5})?(\/[a-z0-9]+([._-][a-z0-9]+)*)*$/;
const IMAGE = /^[^\s"'\\$`]+$/;

export async function exportProject(project: Project, opts: ExportK8sOptions = {}): Promise<ExportK8sResult> {
  const namespace = opts.namespace ?? dnsLabel(project.name, ...(project.environment ? [project.environment] : []));
  checkOptions(project, opts, namespace);
  const notes: ExportNote[] = [];
  const images: Record<string, string> = {};
  for (const app of Object.values(project.apps)) {
    const image = await imageOf(project, app, opts, notes);
    if (image) images[app.name] = image;
  }
  const exported = Object.values(project.apps).filter((a) => Object.hasOwn(images, a.name));
  const values = opts.includeSecrets ? await readSecrets(project) : undefined;
  const files: Record<string, ExportFile[]> = {};
  for (const app of exported) files[app.name] = appFiles(project, app, values, notes);
  const certificates: Record<string, string> = {};
  for (const app of exported) for (const r of app.routes) if (r.tls && !r.tls.auto) certificates[r.tls.cert] = readText(project, app, r.tls.cert, "certificate");
  const result = exportK8s({ project, namespace, images, files, certificates, ...(values ? { secretValues: { ...values } } : {}) });
  const all = { ...result, notes: [...notes, ...result.notes] };
  return { ...all, yaml: renderStream(all, project.name, project.environment), files: renderFiles(all, project.name, project.environment) };
}

function checkOptions(project: Project, opts: ExportK8sOptions, namespace: string): void {
  if (!isDnsLabel(namespace)) throw new UserError(`namespace "${namespace}" is not a DNS label`, { exitCode: 2, hint: "lowercase letters, digits and '-', starting with a letter, at most 63 characters" });
  if (opts.imageTag !== undefined && !TAG.test(opts.imageTag)) throw new UserError(`image tag "${opts.imageTag}" is not a Docker tag`, { exitCode: 2, hint: "letters, digits, '_', '.' and '-', at most 128 characters" });
  if (opts.registry !== undefined && !REGISTRY.test(opts.registry)) throw new UserError(`registry "${opts.registry}" is not a registry host and path`, { exitCode: 2, hint: "e.g. registry.example.com/team or ghcr.io/acme (no scheme, no trailing /)" });
  for (const [app, image] of Object.entries(opts.images ?? {})) {
    if (!Object.hasOwn(project.apps, app)) throw new UserError(`--image ${app}=…: the project has no app or accessory ${app}`, { exitCode: 2, hint: `its apps: ${Object.keys(project.apps).join(", ") || "none"}` });
    if (!IMAGE.test(image)) throw new UserError(`--image ${app}=…: "${image}" is not an image reference`, { exitCode: 2 });
  }
}

/** The image an app's pods run, or none (a process app nobody gave one). */
async function imageOf(project: Project, app: AppSpec, opts: ExportK8sOptions, notes: ExportNote[]): Promise<string | undefined> {
  const given = opts.images && Object.hasOwn(opts.images, app.name) ? opts.images[app.name] : undefined;
  if (given) {
    if (app.run) notes.push({ app: app.name, text: `a process app exported with the image you gave (${given}): it runs that image's own command, not \`${app.run}\`, and gets PORT=${app.port} and HOST=0.0.0.0` });
    return given;
  }
  if (app.run) return undefined;
  if (!app.build) return app.image;
  const { ref } = builtRef(project, app);
  const repo = ref.slice(0, ref.lastIndexOf(":"));
  let tag = opts.imageTag;
  if (!tag) {
    const here = await known(() => localImageId(ref));
    if (here) tag = ref.slice(repo.length + 1);
    else {
      tag = (await known(() => newestTag(repo))) ?? ref.slice(repo.length + 1);
      notes.push({ app: app.name, text: tag === ref.slice(repo.length + 1) ? `image ${ref} (this tree) is not built here: run \`skiff build\` (or pass --image-tag)` : `this tree's image ${ref} is not built here; the newest built one is used (${repo}:${tag})` });
    }
  }
  const name = ref.slice("skiff/".length, ref.lastIndexOf(":"));
  if (opts.registry) return `${opts.registry}/${name}:${tag}`;
  notes.push({ app: app.name, text: `image ${repo}:${tag} is a name on this computer: push it to a registry your cluster pulls from (docker tag, docker push) and export with --registry` });
  return `${repo}:${tag}`;
}

/** Docker's answer, or undefined when Docker is not here (the export does not need it). */
async function known<T>(ask: () => Promise<T | undefined>): Promise<T | undefined> {
  try {
    return await ask();
  } catch {
    return undefined;
  }
}

/** The newest local tag of a repository (Docker lists images newest first). */
async function newestTag(repo: string): Promise<string | undefined> {
  const r = await runProcess(dockerCommand(), ["image", "ls", "--format", "{{.Tag}}", repo]);
  return r.code === 0 ? r.stdout.split("\n").map((l) => l.trim()).find((t) => t && t !== "<none>") : undefined;
}

const readText = (project: Project, app: AppSpec, file: string, what: string): string => readBytes(project, app, file, what).toString("utf8");

function readBytes(project: Project, app: AppSpec, file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new UserError(`app ${app.name}: ${what} ${relative(project.dir, file)} cannot be read (${(e as NodeJS.ErrnoException).code ?? e})`, { hint: "paths are relative to skiff.yml" });
  }
}

/** The app's files as they go out: a template rendered with env (and secret values when included); one that uses
 *  a secret without the values goes out empty, in a Secret. Binary files are not exported (ConfigMap data is text). */
function appFiles(project: Project, app: AppSpec, values: Record<string, string> | undefined, notes: ExportNote[]): ExportFile[] {
  const out: ExportFile[] = [];
  for (const f of app.files) {
    const raw = readBytes(project, app, f.source, `file ${f.path} comes from`);
    const text = raw.toString("utf8");
    if (!Buffer.from(text, "utf8").equals(raw)) {
      notes.push({ app: app.name, text: `file ${f.path}: not text (a ConfigMap holds text); not exported` });
      continue;
    }
    if (!f.template) {
      out.push({ path: f.path, mode: f.mode, content: text, secret: false });
      continue;
    }
    const used = [...text.matchAll(/(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g)].map((m) => m[1]!);
    // A secret wins over an env variable of the same name, as at deploy (exec/files.ts).
    const secret = used.some((n) => Object.hasOwn(app.secrets, n));
    if (secret && !values) {
      out.push({ path: f.path, mode: f.mode, content: "", secret });
      continue;
    }
    const secrets = Object.fromEntries(Object.entries(app.secrets).flatMap(([env, name]) => (values && Object.hasOwn(values, name) ? [[env, values[name]!]] : [])));
    out.push({ path: f.path, mode: f.mode, content: renderTemplate(text, { ...app.env, ...secrets }, relative(project.dir, f.source)), secret });
  }
  return out;
}
