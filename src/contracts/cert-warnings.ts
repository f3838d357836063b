// What deserves a look about a served certificate (pure), in words: ending
// within 14 days or ended, a failing tls: auto renewal with its error and
// since when, nothing served yet. `skiff status` prints these; the agent's
// own alerting can read the same facts with the same thresholds.
import type { TlsHostFacts } from "./tls-facts.ts";

/** A certificate expiring sooner than this is worth a warning (a renewal that works renews at a third of the life left: 30 days of Let's Encrypt's 90). */
export const EXPIRY_WARNING_DAYS = 14;
const DAY = 86_400_000;

/** "2026-12-09" */
export const day = (iso: string) => iso.slice(0, 10);
/** "2026-12-09 10:12 UTC" */
export const minute = (iso: string) => `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;

/** "in 9 days (2026-12-09)", "in 5 h (…)", "in 3 min (…)", "expired 3 days ago (…)". */
export function expiresIn(notAfter: string, now: number): string {
  const left = Date.parse(notAfter) - now;
  const span = (ms: number) => (ms >= DAY ? `${Math.floor(ms / DAY)} day${ms >= 2 * DAY ? "s" : ""}` : ms >= 3_600_000 ? `${Math.floor(ms / 3_600_000)} h` : `${Math.floor(ms / 60_000)} min`);
  return left > 0 ? `in ${span(left)} (${day(notAfter)})` : `expired ${span(-left)} ago (${day(notAfter)})`;
}

/** The warnings of one certificate on one machine. */
export function certWarnings(f: TlsHostFacts, now: number): string[] {
  const out: string[] = [];
  if (f.cert) {
    const left = Date.parse(f.cert.notAfter) - now;
    if (left <= 0) out.push(expiresIn(f.cert.notAfter, now));
    else if (left < EXPIRY_WARNING_DAYS * DAY) out.push(`expires ${expiresIn(f.cert.notAfter, now)}`);
  } else {
    out.push(f.kind === "auto" ? "no certificate served yet" : "its certificate file cannot be read");
  }
  const a = f.auto;
  if (a?.lastResult === "failed") {
    const since = a.failingSince ?? a.lastAttemptAt;
    const last = a.lastAttemptAt && a.lastAttemptAt !== since ? `, last try ${minute(a.lastAttemptAt)}` : "";
    const next = a.retryAt ? `, next try ${minute(a.retryAt)}` : "";
    out.push(`renewal failing${since ? ` since ${minute(since)}` : ""}${last}${next}: ${a.lastError ?? "no error recorded"}`);
  }
  return out;
}

