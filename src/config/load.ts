// read → check shape → resolve environment → check rules → normalize.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { LineCounter, parseDocument } from "yaml";
import { UserError, type Diagnostic } from "../errors.ts";
import { toDiagnostics } from "./issues.ts";
import type { Project } from "./model.ts";
import { normalize } from "./normalize.ts";
import { applyEnvironment, originOf } from "./overlay.ts";
import { NoPositions, SourceMap, type Positions } from "./positions.ts";
import { loadTsConfig } from "./ts-config.ts";
import { overlayAppsExist, RULES, type Problem } from "./rules.ts";
import { Config, type ConfigInput } from "./schema.ts";
import { suggest } from "./suggest.ts";

export const CONFIG_FILE = "skiff.yml";
export const TS_CONFIG_FILE = "skiff.config.ts";

/** skiff.yml (or skiff.config.ts) in `from` or the nearest parent directory. */
export function findConfig(from: string = process.cwd()): string {
  for (let dir = resolve(from); ; dir = dirname(dir)) {
    const yml = join(dir, CONFIG_FILE);
    const ts = join(dir, TS_CONFIG_FILE);
    if (existsSync(yml) && existsSync(ts)) throw new UserError(`${dir} has both ${CONFIG_FILE} and ${TS_CONFIG_FILE}`, { hint: "keep one, or pass --config FILE" });
    if (existsSync(yml)) return yml;
    if (existsSync(ts)) return ts;
    if (dirname(dir) === dir) throw new UserError(`no ${CONFIG_FILE} (or ${TS_CONFIG_FILE}) in ${resolve(from)} or any parent directory`, { hint: "run `skiff init` to write a starter file, or pass --config FILE" });
  }
}

export interface CheckResult {
  project?: Project;
  diagnostics: Diagnostic[];
}

/** Checks config text and returns every problem found; never throws for bad input. */
export function checkConfig(text: string, file: string, environment?: string): CheckResult {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const shown = file;
  if (doc.errors.length) {
    return {
      diagnostics: doc.errors.map((e) => {
        const p = lines.linePos(e.pos[0]);
        return { file: shown, line: p.line, col: p.col, message: `YAML: ${e.message.split("\n")[0]!.replace(/ at line \d+, column \d+.*$/, "")}` };
      }),
    };
  }
  if (doc.contents === null) return { diagnostics: [{ file: shown, line: 1, col: 1, message: "the file is empty: it needs at least `project:` and `machines:`", hint: "run `skiff init` for a starter file" }] };
  const map = new SourceMap(doc, lines);
  const data: unknown = doc.toJS() ?? {};
  if (data === null || typeof data !== "object" || Array.isArray(data)) {
    return { diagnostics: [{ file: shown, line: 1, col: 1, message: "the file must be a mapping with at least `project:` and `machines:`", hint: "run `skiff init` for a starter file" }] };
  }
  return checkData(data, map, file, environment);
}

/** The checks after parsing, for skiff.yml (with positions) and skiff.config.ts (paths only). */
export function checkData(data: object, map: Positions, file: string, environment?: string): CheckResult {
  const shown = file;
  const parsed = Config.safeParse(data);
  if (!parsed.success) return { diagnostics: toDiagnostics(parsed.error.issues, data, Config, map, shown) };

  const written = data as ConfigInput;
  const envs = Object.keys(written.environments ?? {});
  if (environment && !envs.includes(environment)) {
    const guess = suggest(environment, envs);
    return {
      diagnostics: [{ file: shown, ...map.value(["environments"]), message: `environment "${environment}" is not defined${envs.length ? ` (defined: ${envs.join(", ")})` : ""}`, hint: guess ? `did you mean "${guess}"?` : "add it under environments:" }],
    };
  }
  const { config, origins } = applyEnvironment(written, environment);
  const problems: Problem[] = [...overlayAppsExist(written), ...RULES.flatMap((rule) => rule(config))];
  const diagnostics = problems.map((p) => {
    const path = p.written ? p.path : originOf(origins, p.path);
    const pos = p.key ? map.key(path, p.key) : map.value(path);
    return { file: shown, ...pos, message: p.message, hint: p.hint };
  });
  diagnostics.sort((a, b) => a.line - b.line || a.col - b.col);
  if (diagnostics.length) return { diagnostics };
  return { diagnostics, project: normalize(config, resolve(file), dirname(resolve(file)), environment) };
}

/** Loads and checks skiff.yml; a UserError (exit 2) lists every problem. */
export function loadProject(opts: { file?: string; environment?: string } = {}): Project {
  const file = opts.file ? resolve(opts.file) : findConfig();
  if (file.endsWith(".ts")) return loadTsProject(file, opts.environment);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new UserError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { hint: "check the path given to --config" });
  }
  const shown = relativeToCwd(file);
  const { project, diagnostics } = checkConfig(text, shown, opts.environment);
  if (!project) {
    throw new UserError(`${shown}: ${diagnostics.length} problem${diagnostics.length === 1 ? "" : "s"}`, { exitCode: 2, diagnostics });
  }
  return { ...project, file, dir: dirname(file) };
}

function loadTsProject(file: string, environment?: string): Project {
  const shown = relativeToCwd(file);
  const { data, placers } = loadTsConfig(file, shown);
  const { project, diagnostics } = checkData(data, new NoPositions(), shown, environment);
  if (!project) throw new UserError(`${shown}: ${diagnostics.length} problem${diagnostics.length === 1 ? "" : "s"}`, { exitCode: 2, diagnostics });
  for (const [app, place] of Object.entries(placers)) if (project.apps[app]) project.apps[app].place = place;
  return { ...project, file, dir: dirname(file) };
}

function relativeToCwd(file: string): string {
  const cwd = process.cwd() + "/";
  return file.startsWith(cwd) ? file.slice(cwd.length) : file;
}
