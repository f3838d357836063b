// files: read from the repository at deploy, templated with the app's env and
// secret values when asked, and carried inside the release (base64).
import { readFileSync } from "node:fs";
import { relative } from "node:path";
import type { AppSpec, Project } from "../config/model.ts";
import { UserError } from "../errors.ts";

/** ${NAME} → value; $${ stays a literal ${. An unknown name is an error that names it and the file (never a value). */
export function renderTemplate(text: string, values: Record<string, string>, where: string): string {
  return text.replace(/\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (whole, escaped: string, name: string) => {
    if (escaped) return whole.slice(1);
    const v = Object.hasOwn(values, name) ? values[name] : undefined;
    if (v === undefined) throw new UserError(`${where}: \${${name}} is neither an env variable nor a secret of the app`, { hint: "add it under env: or secrets:, or write $${ for a literal ${" });
    return v;
  });
}

export function releaseFiles(project: Project, app: AppSpec, secrets: Record<string, string>): { path: string; mode: number; content: string }[] {
  return app.files.map((f) => {
    let data: Buffer;
    try {
      data = readFileSync(f.source);
    } catch (e) {
      throw new UserError(`app ${app.name}: file ${f.path} comes from ${relative(project.dir, f.source)}, which cannot be read (${(e as NodeJS.ErrnoException).code ?? e})`, { hint: "sources are relative to skiff.yml" });
    }
    if (f.template) data = Buffer.from(renderTemplate(data.toString("utf8"), { ...app.env, ...secrets }, relative(project.dir, f.source)));
    return { path: f.path, mode: f.mode, content: data.toString("base64") };
  });
}
