// The TypeScript alternative to skiff.yml: `skiff.config.ts` exports
// `defineConfig({...})` — the same keys as skiff.yml, typed, plus what YAML
// cannot hold, such as a custom placement function per app.
import type { AppInput, ConfigInput } from "./config/schema.ts";
import type { MachineCapacity } from "./plan/placement.ts";

export type { MachineCapacity };

export interface PlacementContext {
  app: string;
  /** Instances in all (from `instances`, `skiff scale`, or one per eligible machine). */
  instances: number;
  /** The eligible machines (the app's `machines` and `labels`), with capacity and what other apps reserve. */
  machines: MachineCapacity[];
  /** Declared per-instance resources. */
  resources: { cpus?: number; memoryBytes?: number };
  /** The active placement, if any. */
  current?: Record<string, number>;
}

/** Instances per machine name; the counts must add up to `instances`, on eligible machines only. */
export type PlacementFunction = (ctx: PlacementContext) => Record<string, number>;

export type AppConfig = AppInput & { place?: PlacementFunction };
export type SkiffConfig = Omit<ConfigInput, "apps"> & { apps?: Record<string, AppConfig> };

/** Identity at run time; gives skiff.config.ts its types. */
export function defineConfig(config: SkiffConfig): SkiffConfig {
  return config;
}
