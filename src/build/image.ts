// skiff build: one image per app with a build section, tagged by git commit
// (plus -dirty-<hash> for uncommitted changes, and a hash of build args), and
// skipped when that tag already exists.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createHash } from "node:crypto";
import { relative } from "node:path";
import type { AppSpec, Project } from "../config/model.ts";
import { UserError } from "../errors.ts";
import type { Reporter } from "../contracts/events.ts";
import { runProcess } from "../transport/process.ts";
import { relevantStderr } from "../transport/remote-error.ts";
import type { RuntimeKind } from "../contracts/model.ts";
import { hashTree } from "../contracts/artifact.ts";
import { ArtifactCache } from "./artifact-cache.ts";
import { gitState, type GitState } from "./git.ts";
import { buildInputsKey } from "./inputs.ts";
import { hostSettings } from "../settings.ts";

export interface AppImage {
  app: string;
  runtime: RuntimeKind;
  /** Process app: the directory that was hashed and is shipped. */
  dir?: string;
  /** repo:tag as built or as written in `image:`. */
  ref: string;
  /** Local image ID, when the image is on this machine. */
  id?: string;
  git?: GitState;
  built: boolean;
  /** Process app: the artifact packed once on this computer (see artifact-cache.ts); shipping streams it. */
  tarball?: string;
}

/** The docker command here: the host setting `docker` (SKIFF_DOCKER), else `docker`. */
export function dockerCommand(): string {
  return hostSettings().docker || "docker";
}

export async function localImageId(ref: string): Promise<string | undefined> {
  const r = await runProcess(dockerCommand(), ["image", "inspect", "--format", "{{.Id}}", ref]);
  return r.code === 0 ? r.stdout.trim() : undefined;
}

export function imageTag(app: AppSpec, g: GitState | undefined, contextHash: () => string): string {
  const base = g ? (g.dirty ? `${g.commit}-dirty-${g.changesHash}` : g.commit) : `nogit-${contextHash()}`;
  const args = Object.entries(app.build?.args ?? {}).sort();
  const extra = args.length || app.build?.dockerfile !== "Dockerfile" ? createHash("sha256").update(JSON.stringify([app.build?.dockerfile, args])).digest("hex").slice(0, 6) : "";
  return extra ? `${base}-${extra}` : base;
}

function dockerBuild(ref: string, app: AppSpec, onLine: (l: string) => void): Promise<{ code: number | null; output: string }> {
  const b = app.build!;
  const args = ["build", "-t", ref, "-f", `${b.context}/${b.dockerfile}`, ...Object.entries(b.args).flatMap(([k, v]) => ["--build-arg", `${k}=${v}`]), "--label", `skiff.app=${app.name}`, b.context];
  return new Promise((resolve, reject) => {
    const p = spawn(dockerCommand(), args, { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    const take = (d: Buffer) => {
      output += d.toString();
      for (const l of d.toString().split("\n")) if (l.trim()) onLine(l);
    };
    p.stdout.on("data", take);
    p.stderr.on("data", take);
    p.on("error", (e: NodeJS.ErrnoException) => reject(e.code === "ENOENT" ? new UserError(`${dockerCommand()} is not installed here; skiff builds images with the local Docker`, { hint: "install Docker, or set image: for the app" }) : e));
    p.on("close", (code) => resolve({ code, output }));
  });
}

/** The tag a build of this app gets: skiff/<project>-<app>:<commit>[-dirty-<hash>][-<args hash>]. */
export function builtRef(project: Project, app: AppSpec): { g: GitState | undefined; ref: string } {
  const g = gitState(app.build!.context);
  const tag = imageTag(app, g, () => createHash("sha256").update(app.build!.context).digest("hex").slice(0, 8));
  return { g, ref: `skiff/${project.name}-${app.name}:${tag}` };
}

/** Builds what the apps need. `planned` (plannedImages, as a deploy's plan named them) saves asking again what
 *  the plan already knows: an image or artifact whose ID it found is taken as is (an artifact with a build command
 *  only when the plan found it in the cache by its inputs; otherwise the build runs and its content is hashed after). */
export async function buildApps(project: Project, apps: AppSpec[], reporter: Reporter, planned: AppImage[] = []): Promise<AppImage[]> {
  const out: AppImage[] = [];
  for (const app of apps) {
    const known = planned.find((i) => i.app === app.name);
    // An artifact the plan found in the cache by its inputs (moments ago, under the deploy lock) is not built again.
    const cachedArtifact = app.artifact?.build && known?.tarball && existsSync(known.tarball);
    if (known?.id && (!app.artifact?.build || cachedArtifact)) {
      if (app.build) reporter.emit({ type: "step", machine: "local", step: `build ${app.name}: ${known.ref} exists, skipped`, status: "ok" });
      if (cachedArtifact) reporter.emit({ type: "step", machine: "local", step: `build ${app.name}: skipped (inputs unchanged, ${known.ref})`, status: "ok" });
      const { note: _note, ...image } = known as AppImage & { note?: string };
      out.push({ ...image, built: false });
      continue;
    }
    if (app.run) {
      out.push(await buildArtifact(project, app, reporter));
      continue;
    }
    if (!app.build) {
      out.push(await givenImage(app));
      continue;
    }
    const { g, ref } = builtRef(project, app);
    const existing = await localImageId(ref);
    if (existing) {
      reporter.emit({ type: "step", machine: "local", step: `build ${app.name}: ${ref} exists, skipped`, status: "ok" });
      out.push({ app: app.name, runtime: "docker", ref, id: existing, git: g, built: false });
      continue;
    }
    const started = Date.now();
    reporter.emit({ type: "step", machine: "local", step: `build ${app.name} (${relative(project.dir, app.build.context) || "."})`, status: "start" });
    const res = await dockerBuild(ref, app, () => {});
    if (res.code !== 0) {
      reporter.emit({ type: "step", machine: "local", step: `build ${app.name}`, status: "failed", ms: Date.now() - started });
      throw new UserError(`build of ${app.name} failed (docker build exit ${res.code})\n${relevantStderr(res.output, 25).map((l) => `  │ ${l}`).join("\n")}`, { hint: `fix the Dockerfile or the build context (${app.build.context})` });
    }
    const id = await localImageId(ref);
    reporter.emit({ type: "step", machine: "local", step: `build ${app.name} → ${ref}`, status: "ok", ms: Date.now() - started });
    out.push({ app: app.name, runtime: "docker", ref, id, git: g, built: true });
  }
  return out;
}

/**
 * A process app's artifact, named by its content. With a build command, the build runs only when its inputs
 * (inputs.ts) are new: inputs seen before give the artifact they made, packed in the project's cache.
 */
async function buildArtifact(project: Project, app: AppSpec, reporter: Reporter): Promise<AppImage> {
  const g = gitState(project.dir);
  const a = app.artifact;
  if (!a) return artifactImage(app, "", g);
  if (!a.build) return { ...artifactImage(app, artifactHashOf(project, app), g), built: false };
  const cache = ArtifactCache.of(project.dir);
  const key = inputsKey(project, app);
  const hit = key ? cache.lookup(key) : undefined;
  if (hit) {
    reporter.emit({ type: "step", machine: "local", step: `build ${app.name}: skipped (inputs unchanged, artifact ${hit.slice(0, 12)})`, status: "ok" });
    return { ...artifactImage(app, hit, g), tarball: cache.tarball(hit), built: false };
  }
  const started = Date.now();
  reporter.emit({ type: "step", machine: "local", step: `build ${app.name}: ${a.build}`, status: "start" });
  const res = await runProcess("sh", ["-c", a.build], { cwd: project.dir });
  if (res.code !== 0) {
    reporter.emit({ type: "step", machine: "local", step: `build ${app.name}`, status: "failed", ms: Date.now() - started });
    throw new UserError(`build of ${app.name} failed (\`${a.build}\` exited with ${res.code})\n${relevantStderr(res.stderr || res.stdout, 25).map((l) => `  │ ${l}`).join("\n")}`, { hint: "run the artifact's build command yourself in the project directory to see why" });
  }
  const hash = artifactHashOf(project, app);
  const tarball = await cache.store(hash, a.dir);
  // Both the inputs before the build and the tree it left: a deploy with nothing changed finds the latter.
  for (const k of [key, inputsKey(project, app)]) if (k) cache.remember(k, hash);
  reporter.emit({ type: "step", machine: "local", step: `build ${app.name}`, status: "ok", ms: Date.now() - started });
  return { ...artifactImage(app, hash, g), tarball, built: true };
}

/** The inputs' key, or none when the tree cannot be read (then the build runs, and says what is wrong if it matters). */
function inputsKey(project: Project, app: AppSpec): string | undefined {
  try {
    return buildInputsKey(project, app);
  } catch {
    return undefined;
  }
}

function artifactHashOf(project: Project, app: AppSpec): string {
  const a = app.artifact!;
  try {
    return hashTree(a.dir);
  } catch (e) {
    throw new UserError(`artifact of ${app.name}: cannot read ${relative(project.dir, a.dir) || "."}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "no such directory" : (e as Error).message}`, { hint: a.build ? "the build command should create it" : "artifact: is relative to skiff.yml" });
  }
}

/** A process app's "image": its artifact's content hash ("" when there is no directory to hash yet), or none. */
function artifactImage(app: AppSpec, hash: string, g: GitState | undefined): AppImage {
  if (!app.artifact) return { app: app.name, runtime: "process", ref: "none", id: "none", git: g, built: false };
  return { app: app.name, runtime: "process", dir: app.artifact.dir, ref: hash ? `artifact ${hash.slice(0, 12)}` : "artifact (not built yet)", id: hash ? `artifact:${hash}` : undefined, git: g, built: false };
}

/** An `image:` app: the reference as written, and its ID when this computer has it. */
async function givenImage(app: AppSpec): Promise<AppImage> {
  return { app: app.name, runtime: "docker", ref: app.image!, id: await localImageId(app.image!), built: false };
}

/** What a deploy would run, without building anything: for plan. A `build:` image that does not exist yet has no ID. */
export async function plannedImages(project: Project, apps: AppSpec[]): Promise<(AppImage & { note?: string })[]> {
  const out: (AppImage & { note?: string })[] = [];
  for (const app of apps) {
    if (app.run) {
      out.push(plannedArtifact(project, app));
      continue;
    }
    if (!app.build) {
      out.push(await givenImage(app));
      continue;
    }
    const { g, ref } = builtRef(project, app);
    const id = await localImageId(ref);
    out.push({ app: app.name, runtime: "docker", ref, id, git: g, built: false, note: id ? undefined : "image built at deploy" });
  }
  return out;
}

/** A process app's artifact as a deploy would take it: with a build command, the one its inputs made before, if any. */
function plannedArtifact(project: Project, app: AppSpec): AppImage & { note?: string } {
  const g = gitState(project.dir);
  const a = app.artifact;
  if (a?.build) {
    const cache = ArtifactCache.of(project.dir);
    const key = inputsKey(project, app);
    const hit = key ? cache.lookup(key) : undefined;
    if (hit) return { ...artifactImage(app, hit, g), tarball: cache.tarball(hit), note: "inputs unchanged: no build at deploy" };
    return { ...artifactImage(app, "", g), note: `artifact built by \`${a.build}\` at deploy` };
  }
  let hash = "";
  try {
    if (a) hash = hashTree(a.dir);
  } catch {}
  return artifactImage(app, hash, g);
}
