// Checks on the parsed data before the schema sees it, for what a schema cannot
// say: no `__proto__` key anywhere (zod drops it silently, and code that copies
// keys with `obj[k] = v` would set a prototype), no NUL in any string (no
// command line, environment or file name can carry one), and no nesting deeper
// than any real config (each level costs stack in the checks after this one).
import type { Path } from "./positions.ts";

export interface DataProblem {
  path: Path;
  /** The problem is this key of the map at `path` (rather than the value at `path`). */
  key?: string;
  message: string;
}

export const MAX_DEPTH = 32;

export function dataProblems(data: unknown): DataProblem[] {
  const out: DataProblem[] = [];
  // Iterative, so hostile depth cannot overflow the stack here.
  const todo: { value: unknown; path: Path }[] = [{ value: data, path: [] }];
  while (todo.length) {
    const { value, path } = todo.pop()!;
    if (typeof value === "string") {
      if (value.includes("\0")) out.push({ path, message: `${label(path)}: must not contain a NUL character` });
      continue;
    }
    if (value === null || typeof value !== "object") continue;
    if (path.length >= MAX_DEPTH) {
      out.push({ path, message: `${label(path)}: nested more than ${MAX_DEPTH} levels deep` });
      continue;
    }
    if (Array.isArray(value)) {
      value.forEach((v, i) => todo.push({ value: v, path: [...path, i] }));
      continue;
    }
    for (const key of Object.keys(value)) {
      if (key === "__proto__") out.push({ path, key, message: `${path.length ? `${label(path)}: ` : ""}"__proto__" cannot be a key` });
      else if (key.includes("\0")) out.push({ path, key, message: `${label(path)}: a key must not contain a NUL character` });
      else todo.push({ value: (value as Record<string, unknown>)[key], path: [...path, key] });
    }
  }
  return out;
}

const label = (path: Path) => (path.length ? path.join(".") : "the file");
