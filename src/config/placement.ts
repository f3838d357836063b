// The types of a custom placement function (skiff.config.ts `apps.<name>.place`) and what it is given.

export interface MachineCapacity {
  name: string;
  labels: string[];
  cpus: number;
  memoryBytes: number;
  /** Reserved by other apps' active releases on this machine. */
  reserved: { cpus: number; memoryBytes: number };
}

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
