/** Milliseconds from "500ms" / "2s" / "1m" / "1h" or a number of seconds. */
export function parseDuration(value: string | number): number {
  if (typeof value === "number") return Math.round(value * 1000);
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(value);
  if (!m) throw new Error(`not a duration: ${value}`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as "ms" | "s" | "m" | "h"];
  return Math.round(Number(m[1]) * unit);
}
