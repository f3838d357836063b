import type { Project } from "./model.ts";

/** Machines and apps by name in maps without a prototype: `skiff deploy constructor` (or any name from a command
 *  line or a file) finds nothing instead of Object's own properties, wherever the project is used. */
export function lookupSafe(p: Project): Project {
  return { ...p, machines: Object.assign(Object.create(null) as Project["machines"], p.machines), apps: Object.assign(Object.create(null) as Project["apps"], p.apps) };
}
