// The machine's name as the CLI calls it (skiff.yml's key), remembered from the
// last mutating call: the supervisor's history records name the machine with it.
import type { Store } from "./store.ts";

const file = (store: Store) => `${store.dir}/machine.json`;

export function machineName(store: Store): string {
  return store.readJson<{ machine: string }>(file(store))?.machine ?? "unknown";
}

export function rememberMachineName(store: Store, machine: string): void {
  if (machineName(store) !== machine) store.writeJson(file(store), { machine }, 0o644);
}
