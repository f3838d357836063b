// read → check shape → resolve environment → check rules → normalize.
import { dirname, resolve } from "node:path";
import { LineCounter, parseDocument, visit, type Document } from "yaml";
import { UserError, type Diagnostic } from "../errors.ts";
import { dataProblems } from "./data-checks.ts";
import { findConfig, MAX_CONFIG_BYTES, readConfigText } from "./find.ts";
import { tlsRouteProblems } from "./tls-checks.ts";
import { toDiagnostics } from "./issues.ts";
import type { Project } from "./model.ts";
import { lookupSafe } from "./lookup-safe.ts";
import { normalize } from "./normalize.ts";
import { applyEnvironment, originOf } from "./overlay.ts";
import { NoPositions, SourceMap, type Positions } from "./positions.ts";
import { loadTsConfig } from "./ts-config.ts";
import { overlayAppsExist, RULES, type Problem } from "./rules.ts";
import { Config, type ConfigInput } from "./schema.ts";
import { suggest } from "./suggest.ts";

export { CONFIG_FILE, findConfig, MAX_CONFIG_BYTES, readConfigText, TS_CONFIG_FILE } from "./find.ts";

/** yaml's guard against alias bombs: alias expansions counted by node size. */
const MAX_ALIAS_COUNT = 100;

export interface CheckResult {
  project?: Project;
  diagnostics: Diagnostic[];
}

/** Checks config text and returns every problem found; never throws for bad input. */
export function checkConfig(text: string, file: string, environment?: string): CheckResult {
  const read = parseYaml(text, file);
  return "diagnostics" in read ? read : checkData(read.data, read.map, file, environment);
}

/** What `skiff validate` checks: the file as written and every environment overlay; an overlay's own problems name it. */
export function checkConfigEverywhere(text: string, file: string): Diagnostic[] {
  const read = parseYaml(text, file);
  return "diagnostics" in read ? read.diagnostics : checkDataEverywhere(read.data, read.map, file);
}

export function checkDataEverywhere(data: object, map: Positions, file: string): Diagnostic[] {
  const base = checkData(data, map, file);
  // Problems the overlays share with the base (the schema's, the rules' on unchanged parts) are listed once.
  const seen = new Set(base.diagnostics.map(key));
  const out = [...base.diagnostics];
  const envs = Object.keys((data as ConfigInput).environments ?? {});
  for (const env of envs) {
    for (const d of checkData(data, map, file, env).diagnostics) {
      if (seen.has(key(d))) continue;
      seen.add(key(d));
      out.push({ ...d, message: `environment ${env}: ${d.message}` });
    }
  }
  return out.sort((a, b) => a.line - b.line || a.col - b.col);
}

const key = (d: Diagnostic) => `${d.line}:${d.col}:${d.message}`;

type Parsed = { data: object; map: SourceMap } | { diagnostics: Diagnostic[] };

function parseYaml(text: string, file: string): Parsed {
  const at = (line: number, col: number, message: string, hint?: string): { diagnostics: Diagnostic[] } => ({ diagnostics: [{ file, line, col, message, hint }] });
  if (text.length > MAX_CONFIG_BYTES) return at(1, 1, `the file is too large (${text.length} characters; at most ${MAX_CONFIG_BYTES})`);
  const lines = new LineCounter();
  let doc: Document.Parsed;
  try {
    doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  } catch (e) {
    return at(1, 1, `YAML: cannot be parsed: ${(e as Error).message}`);
  }
  if (doc.errors.length) {
    return {
      diagnostics: doc.errors.map((e) => {
        const p = lines.linePos(e.pos[0]);
        const msg = e.message.split("\n")[0]!.replace(/ at line \d+, column \d+.*$/, "");
        return { file, line: p.line, col: p.col, message: `YAML: ${/call stack/i.test(msg) ? "nested too deeply" : msg}` };
      }),
    };
  }
  if (doc.contents === null) return at(1, 1, "the file is empty: it needs at least `project:` and `machines:`", "run `skiff init` for a starter file");
  const map = new SourceMap(doc, lines);
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) ?? {};
  } catch (e) {
    return { diagnostics: [aliasProblem(doc, lines, file, e)] };
  }
  if (data === null || typeof data !== "object" || Array.isArray(data)) return at(1, 1, "the file must be a mapping with at least `project:` and `machines:`", "run `skiff init` for a starter file");
  return { data, map };
}

/** toJS throws (without a position) for an alias with no anchor before it and for an alias bomb: find the alias. */
function aliasProblem(doc: Document.Parsed, lines: LineCounter, file: string, e: unknown): Diagnostic {
  let unresolved: { source: string; offset: number } | undefined;
  let first: { source: string; offset: number } | undefined;
  visit(doc, {
    Alias(_, node) {
      const here = { source: node.source, offset: node.range?.[0] ?? 0 };
      first ??= here;
      if (!node.resolve(doc)) {
        unresolved = here;
        return visit.BREAK;
      }
      return undefined;
    },
  });
  const where = (offset: number) => lines.linePos(offset);
  if (unresolved) return { file, ...where(unresolved.offset), message: `YAML: alias *${unresolved.source} has no anchor &${unresolved.source} before it` };
  if (first && /alias/i.test((e as Error).message)) {
    return { file, ...where(first.offset), message: `YAML: aliases expand to too much data (more than ${MAX_ALIAS_COUNT} nodes through aliases)`, hint: "write the values out, or use fewer nested aliases" };
  }
  return { file, line: 1, col: 1, message: `YAML: cannot be read: ${(e as Error).message}` };
}

/** The checks after parsing, for skiff.yml (with positions) and skiff.config.ts (paths only). */
export function checkData(data: object, map: Positions, file: string, environment?: string): CheckResult {
  const shown = file;
  // Reported with the schema's and the rules' problems (which look up names with Object.hasOwn); nothing is normalized while any remain.
  const raw: Diagnostic[] = dataProblems(data).map((p) => ({ file: shown, ...(p.key ? map.key(p.path, p.key) : map.value(p.path)), message: p.message }));
  const byPosition = (a: Diagnostic, b: Diagnostic) => a.line - b.line || a.col - b.col;
  const parsed = Config.safeParse(data);
  if (!parsed.success) return { diagnostics: [...raw, ...toDiagnostics(parsed.error.issues, data, Config, map, shown)].sort(byPosition) };

  const written = data as ConfigInput;
  const envs = Object.keys(written.environments ?? {});
  if (environment && !envs.includes(environment)) {
    const guess = suggest(environment, envs);
    return {
      diagnostics: [{ file: shown, ...map.value(["environments"]), message: `environment "${environment}" is not defined${envs.length ? ` (defined: ${envs.join(", ")})` : ""}`, hint: guess ? `did you mean "${guess}"?` : "add it under environments:" }],
    };
  }
  const { config, origins } = applyEnvironment(written, environment);
  const problems: Problem[] = [...overlayAppsExist(written), ...RULES.flatMap((rule) => rule(config)), ...tlsRouteProblems(config, dirname(resolve(file)))];
  const diagnostics = [
    ...raw,
    ...problems.map((p) => {
      const path = p.written ? p.path : originOf(origins, p.path);
      const pos = p.key ? map.key(path, p.key) : map.value(path);
      return { file: shown, ...pos, message: p.message, hint: p.hint };
    }),
  ].sort(byPosition);
  if (diagnostics.length) return { diagnostics };
  return { diagnostics, project: lookupSafe(normalize(config, resolve(file), dirname(resolve(file)), environment)) };
}

/** Loads and checks skiff.yml; a UserError (exit 2) lists every problem. */
export function loadProject(opts: { file?: string; environment?: string } = {}): Project {
  const file = opts.file ? resolve(opts.file) : findConfig();
  if (file.endsWith(".ts")) return loadTsProject(file, opts.environment);
  return projectFromText(readConfigText(file), file, opts.environment);
}

/** skiff.yml's text (read from the absolute path `file`) checked into a project; a UserError (exit 2) lists every problem. */
export function projectFromText(text: string, file: string, environment?: string): Project {
  const shown = relativeToCwd(file);
  const { project, diagnostics } = checkConfig(text, shown, environment);
  if (!project) {
    throw new UserError(`${shown}: ${diagnostics.length} problem${diagnostics.length === 1 ? "" : "s"}`, { exitCode: 2, diagnostics });
  }
  return { ...project, file, dir: dirname(file) };
}

/** `skiff validate`: every problem in the file and in each environment overlay; a UserError (exit 2) lists them. */
export function validateEverywhere(opts: { file?: string } = {}): void {
  const file = opts.file ? resolve(opts.file) : findConfig();
  const shown = relativeToCwd(file);
  let diagnostics: Diagnostic[];
  if (file.endsWith(".ts")) {
    readConfigText(file); // the same refusals (FIFO, size) as for skiff.yml
    diagnostics = checkDataEverywhere(loadTsConfig(file, shown).data, new NoPositions(), shown);
  } else diagnostics = checkConfigEverywhere(readConfigText(file), shown);
  if (diagnostics.length) throw new UserError(`${shown}: ${diagnostics.length} problem${diagnostics.length === 1 ? "" : "s"}`, { exitCode: 2, diagnostics });
}

function loadTsProject(file: string, environment?: string): Project {
  const shown = relativeToCwd(file);
  readConfigText(file);
  const { data, placers } = loadTsConfig(file, shown);
  const { project, diagnostics } = checkData(data, new NoPositions(), shown, environment);
  if (!project) throw new UserError(`${shown}: ${diagnostics.length} problem${diagnostics.length === 1 ? "" : "s"}`, { exitCode: 2, diagnostics });
  for (const [app, place] of Object.entries(placers)) if (Object.hasOwn(project.apps, app)) project.apps[app]!.place = place;
  return { ...project, file, dir: dirname(file) };
}

function relativeToCwd(file: string): string {
  const cwd = process.cwd() + "/";
  return file.startsWith(cwd) ? file.slice(cwd.length) : file;
}
