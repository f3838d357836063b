// What an artifact's build reads, as one key. The build command runs in the project
// directory, so everything there is an input: sources, lockfiles, and the artifact
// directory as the last build left it (a build that made it from the same inputs
// would make it again). Left out: skiff's own configuration (skiff.yml,
// skiff.config.ts, secrets/, the apps' files:) where it is not inside the
// artifact, so a config-only change keeps the key; what is inside the artifact is
// shipped, so it counts. An artifact directory outside the project counts whole.
import { createHash } from "node:crypto";
import { isAbsolute, relative } from "node:path";
import type { AppSpec, Project } from "../config/model.ts";
import { hashTree } from "../contracts/artifact.ts";

const inside = (rel: string, dir: string) => dir === "" || rel === dir || rel.startsWith(`${dir}/`);
const outsideOf = (rel: string) => rel === ".." || rel.startsWith("../") || isAbsolute(rel);

/** The project-relative paths skiff reads as configuration. */
function configPaths(project: Project): string[] {
  const files = Object.values(project.apps).flatMap((a) => a.files.map((f) => f.source));
  return [project.file, ...files].map((f) => relative(project.dir, f)).filter((r) => !outsideOf(r));
}

/** sha256 of the build command and the trees it reads (see above). Throws when a tree cannot be read. */
export function buildInputsKey(project: Project, app: AppSpec): string {
  const a = app.artifact!;
  const dir = relative(project.dir, a.dir);
  const config = new Set([...configPaths(project), "skiff.yml", "skiff.config.ts"]);
  const isConfig = (rel: string) => config.has(rel) || inside(rel, "secrets");
  const projectTree = hashTree(project.dir, (rel) => isConfig(rel) && !(outsideOf(dir) ? false : inside(rel, dir)));
  const artifactTree = outsideOf(dir) ? hashTree(a.dir) : "";
  return createHash("sha256").update(JSON.stringify(["skiff build inputs 1", a.build ?? "", projectTree, artifactTree])).digest("hex");
}
