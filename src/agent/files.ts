// A release's files on the machine: written once per release under
//   <state>/apps/<project>/<app>/files/<release>/<n>   (directory 0700, each file with its mode)
// and handed to the runtime, which places them in the instance.
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ReleaseSpec } from "../contracts/model.ts";

export function filesDir(stateDir: string, project: string, app: string, release: number): string {
  return join(stateDir, "apps", project, app, "files", String(release));
}

export function materializeFiles(stateDir: string, spec: ReleaseSpec): { path: string; hostPath: string; mode: number }[] {
  if (!spec.files?.length) return [];
  const dir = filesDir(stateDir, spec.project, spec.app, spec.release);
  if (!existsSync(dir)) {
    const tmp = `${dir}.tmp-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true, mode: 0o700 });
    spec.files.forEach((f, i) => writeFileSync(join(tmp, String(i)), Buffer.from(f.content, "base64"), { mode: f.mode }));
    renameSync(tmp, dir);
  }
  return spec.files.map((f, i) => ({ path: f.path, hostPath: join(dir, String(i)), mode: f.mode }));
}
