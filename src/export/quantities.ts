// skiff's numbers as Kubernetes quantities and probe fields.

/** CPUs: 0.5 → "500m", 2 → "2". */
export function cpuQuantity(cpus: number): string {
  const milli = Math.max(1, Math.round(cpus * 1000));
  return milli % 1000 === 0 ? String(milli / 1000) : `${milli}m`;
}

/** Bytes → "256Mi", "2Gi", or the plain number of bytes when it is no whole number of Ki. */
export function memoryQuantity(bytes: number): string {
  for (const [unit, size] of [["Ti", 2 ** 40], ["Gi", 2 ** 30], ["Mi", 2 ** 20], ["Ki", 2 ** 10]] as const) if (bytes % size === 0) return `${bytes / size}${unit}`;
  return String(bytes);
}

/** Milliseconds → whole seconds for a probe or grace field: rounded up, at least `min`. */
export const seconds = (ms: number, min = 1): number => Math.max(min, Math.ceil(ms / 1000));
