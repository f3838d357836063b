// Turns zod issues into Diagnostics a person can act on: position, plain words,
// and "did you mean" for unknown keys.
import type { z } from "zod";
import type { Diagnostic } from "../errors.ts";
import type { Path, Positions } from "./positions.ts";
import { suggest } from "./suggest.ts";

type Issue = z.core.$ZodIssue;
type AnySchema = z.core.$ZodType;

/** Walks the schema along a data path, so unknown keys can be compared with the known ones. */
export function schemaAt(schema: AnySchema, path: Path): AnySchema | undefined {
  let s: AnySchema | undefined = unwrap(schema);
  for (const seg of path) {
    if (!s) return undefined;
    const def = s._zod.def as unknown as Record<string, unknown> & { type: string };
    if (def.type === "object") s = Object.hasOwn(def.shape as object, String(seg)) ? (def.shape as Record<string, AnySchema>)[String(seg)] : undefined;
    else if (def.type === "record") s = def.valueType as AnySchema;
    else if (def.type === "array") s = def.element as AnySchema;
    else return undefined;
    s = s && unwrap(s);
  }
  return s;
}

function unwrap(s: AnySchema): AnySchema {
  let cur = s;
  for (;;) {
    const def = cur._zod.def as unknown as { type: string; innerType?: AnySchema };
    if ((def.type === "optional" || def.type === "default" || def.type === "nullable") && def.innerType) cur = def.innerType;
    else return cur;
  }
}

export function knownKeys(schema: AnySchema, path: Path): string[] {
  const s = schemaAt(schema, path);
  if (!s) return [];
  const def = s._zod.def as unknown as { type: string; shape?: Record<string, unknown> };
  return def.type === "object" && def.shape ? Object.keys(def.shape) : [];
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  if (typeof value === "string") return `the string ${JSON.stringify(value.length > 40 ? value.slice(0, 37) + "..." : value)}`;
  return `${typeof value} ${String(value)}`;
}

function get(data: unknown, path: Path): unknown {
  let cur = data;
  for (const seg of path) {
    if (cur === null || typeof cur !== "object" || !Object.hasOwn(cur, seg)) return undefined;
    cur = (cur as Record<string | number, unknown>)[seg];
  }
  return cur;
}

const article: Record<string, string> = {
  string: "a string",
  number: "a number",
  int: "an integer",
  boolean: "true or false",
  object: "a mapping",
  array: "a list",
  record: "a mapping",
};

export function toDiagnostics(issues: readonly Issue[], data: unknown, schema: AnySchema, map: Positions, file: string, pathOf: (p: Path) => Path = (p) => p): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const issue of issues) {
    const path = pathOf(issue.path as Path);
    const where = (p: Located) => ({ file, line: p.line, col: p.col });
    const label = path.length ? path.join(".") : "the file";
    switch (issue.code) {
      case "unrecognized_keys": {
        const known = knownKeys(schema, issue.path as Path);
        for (const key of issue.keys) {
          const guess = suggest(key, known);
          out.push({
            ...where(map.key(path, key)),
            message: `unknown key "${key}"${path.length ? ` in ${label}` : ""}`,
            hint: guess ? `did you mean "${guess}"?` : known.length ? `expected one of: ${known.join(", ")}` : undefined,
          });
        }
        break;
      }
      case "invalid_type": {
        const value = get(data, issue.path as Path);
        const parent = path.slice(0, -1);
        const key = path[path.length - 1];
        if (value === undefined && key !== undefined) {
          // Point at the owner's own key ("web1:"), where a person looks for it.
          const owner = parent.length ? map.key(parent.slice(0, -1), String(parent[parent.length - 1])) : map.value(parent);
          out.push({ ...where(owner), message: `missing required key "${key}"${parent.length ? ` in ${parent.join(".")}` : ""}` });
        } else {
          out.push({ ...where(map.value(path)), message: `${label}: expected ${article[issue.expected] ?? issue.expected}, got ${describe(value)}` });
        }
        break;
      }
      case "invalid_key": {
        const key = String(issue.path[issue.path.length - 1] ?? "");
        const inner = issue.issues[0];
        out.push({ ...where(map.key(path.slice(0, -1), key)), message: `${path.slice(0, -1).join(".") || "key"}: "${key}" ${inner?.message ?? "is not a valid name"}` });
        break;
      }
      case "too_small":
        out.push({ ...where(map.value(path)), message: `${label}: must be ${issue.inclusive === false ? "more than" : "at least"} ${String(issue.minimum)}${issue.origin === "string" ? " characters" : issue.origin === "array" ? " items" : ""}` });
        break;
      case "too_big":
        out.push({ ...where(map.value(path)), message: `${label}: must be ${issue.inclusive === false ? "less than" : "at most"} ${String(issue.maximum)}` });
        break;
      case "custom":
        // A problem with a map's key (an ssh option's name) points at the key.
        if ((issue.params as { atKey?: boolean } | undefined)?.atKey && path.length) out.push({ ...where(map.key(path.slice(0, -1), String(path[path.length - 1]))), message: issue.message });
        else out.push({ ...where(map.value(path)), message: `${label}: ${issue.message}` });
        break;
      default:
        out.push({ ...where(map.value(path)), message: `${label}: ${issue.message}` });
    }
  }
  return out.sort((a, b) => a.line - b.line || a.col - b.col);
}

type Located = { line: number; col: number };
