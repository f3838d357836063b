// The TypeScript alternative to skiff.yml: `skiff.config.ts` exports
// `defineConfig({...})` — the same keys as skiff.yml, typed, plus what YAML
// cannot hold, such as a custom placement function per app. The same object can
// be given to `Skiff.open({ config })`.
import type { AppInput, ConfigInput } from "../config/schema.ts";
import type { MachineCapacity, PlacementContext, PlacementFunction } from "../config/placement.ts";

export type { MachineCapacity, PlacementContext, PlacementFunction };

export type AppConfig = AppInput & { place?: PlacementFunction };
export type SkiffConfig = Omit<ConfigInput, "apps"> & { apps?: Record<string, AppConfig> };

/** Identity at run time; gives skiff.config.ts its types. */
export function defineConfig(config: SkiffConfig): SkiffConfig {
  return config;
}
