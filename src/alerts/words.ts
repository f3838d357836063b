// How alert messages write numbers: short, the way an operator reads them on a phone.

/** 0.0523 → "5.2%"; 0.9 → "90%". */
export function showPercent(f: number): string {
  const p = f * 100;
  return `${p >= 10 || Number.isInteger(p) ? Math.round(p) : p.toFixed(1)}%`;
}

/** 1500 → "1.5s", 120000 → "2m", 45 → "45ms", 7200000 → "2h". */
export function showMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${+(ms / 1000).toFixed(1)}s`;
  if (ms < 3_600_000) return `${+(ms / 60_000).toFixed(1)}m`;
  return `${+(ms / 3_600_000).toFixed(1)}h`;
}
