// read → check shape → resolve environment → check rules → normalize.
import { closeSync, constants, existsSync, fstatSync, openSync, readFileSync, type Stats } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { isAlias, LineCounter, parseDocument, visit, type Document } from "yaml";
import { UserError, type Diagnostic } from "../errors.ts";
import { dataProblems } from "./data-checks.ts";
import { tlsRouteProblems } from "./tls-checks.ts";
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
/** Far more than any real config; a bigger file is a mistake (or an attack on the parser). */
export const MAX_CONFIG_BYTES = 1024 * 1024;
/** yaml's guard against alias bombs: alias expansions counted by node size. */
const MAX_ALIAS_COUNT = 100;
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

/** Machines and apps by name in maps without a prototype: `skiff deploy constructor` (or any name from a command
 *  line or a file) finds nothing instead of Object's own properties, wherever the project is used. */
function lookupSafe(p: Project): Project {
  return { ...p, machines: Object.assign(Object.create(null) as Project["machines"], p.machines), apps: Object.assign(Object.create(null) as Project["apps"], p.apps) };
}

/** Loads and checks skiff.yml; a UserError (exit 2) lists every problem. */
export function loadProject(opts: { file?: string; environment?: string } = {}): Project {
  const file = opts.file ? resolve(opts.file) : findConfig();
  if (file.endsWith(".ts")) return loadTsProject(file, opts.environment);
  const text = readConfigText(file);
  const shown = relativeToCwd(file);
  const { project, diagnostics } = checkConfig(text, shown, opts.environment);
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

/** The config's text: a regular file of sane size. Opened without blocking, so a FIFO or device is refused, not waited on. */
export function readConfigText(file: string): string {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    throw new UserError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { hint: "check the path given to --config" });
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new UserError(`${file} is not a regular file (it is ${kindOf(st)})`, { exitCode: 2, hint: "pass the path of skiff.yml (or skiff.config.ts) with --config" });
    if (st.size > MAX_CONFIG_BYTES) throw new UserError(`${file} is too large for a config (${st.size} bytes; at most ${MAX_CONFIG_BYTES})`, { exitCode: 2, hint: "check the path given to --config" });
    const text = readFileSync(fd, "utf8");
    if (text.length > MAX_CONFIG_BYTES) throw new UserError(`${file} is too large for a config (it grew while being read)`, { exitCode: 2 });
    return text;
  } finally {
    closeSync(fd);
  }
}

function kindOf(st: Stats): string {
  if (st.isDirectory()) return "a directory";
  if (st.isFIFO()) return "a FIFO";
  if (st.isSocket()) return "a socket";
  if (st.isCharacterDevice() || st.isBlockDevice()) return "a device";
  return "not a file";
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
