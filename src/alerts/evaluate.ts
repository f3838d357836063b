// Pure: one round of the leader's evaluation. From the facts of the machines it
// reached (and since when it has missed the others), each rule gives a
// condition per subject (an app, a machine, a filesystem); the ledger says
// which were already pending or firing. A condition that holds for its rule's
// `for` fires (one event); one that stops holding resolves (one event). A
// subject whose facts are missing this round (its machine did not answer)
// keeps its state: unknown is not "fine".
import { receiverId, type ActiveAlert, type AlertEvent, type AlertRuleName, type AlertsConfig, type AppFacts, type Ledger, type MachineFacts } from "../contracts/alerts.ts";
import { addBuckets, histogramQuantile } from "../metrics/quantile.ts";
import { day, minute } from "../contracts/cert-warnings.ts";
import { showMs, showPercent } from "./words.ts";
import { byCodeUnit } from "../lib/order.ts";

/** One subject's condition this round. `holds` undefined: not known (keep what the ledger says). */
export interface Condition {
  key: string;
  rule: AlertRuleName;
  labels: Record<string, string>;
  summary: string;
  value?: number;
  holds: boolean | undefined;
  forMs: number;
  /** When the condition began, when the facts know better than "now" (a machine missed since). */
  since?: number;
}

export interface Round {
  cfg: Pick<AlertsConfig, "rules" | "machines" | "self" | "receivers" | "apps"> & Partial<Pick<AlertsConfig, "intervalMs">>;
  /** Facts of the machines that answered this round (this one's own among them). */
  facts: MachineFacts[];
  /** Machines that did not answer, and since when they have not (unix ms). */
  missing: Record<string, number>;
  now: number;
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/** An app's instances with a count above 0 (restarts, OOM kills) on the machines that answered, and the total. */
function perInstance(per: { machine: string; a: AppFacts }[], what: "restarts" | "oomKills"): { by: { i: string; n: number; machine: string }[]; total: number } {
  const by = per.flatMap((p) => Object.entries(p.a[what]).filter(([, n]) => n > 0).map(([i, n]) => ({ i, n, machine: p.machine })));
  return { by, total: sum(by.map((b) => b.n)) };
}

/** Every rule's conditions for this round. */
export function conditions(r: Round): Condition[] {
  const { rules } = r.cfg;
  const out: Condition[] = [];
  const apps = [...new Set([...r.cfg.apps, ...r.facts.flatMap((f) => Object.keys(f.apps))])].sort();
  for (const app of apps) {
    const per = r.facts.flatMap((f) => (f.apps[app] ? [{ machine: f.machine, a: f.apps[app]! }] : []));
    if (rules.errorRate) {
      const req = sum(per.map((p) => p.a.requests));
      const err = sum(per.map((p) => p.a.errors));
      const rate = req > 0 ? err / req : 0;
      const enough = req >= rules.errorRate.minRequests;
      out.push({
        key: `error_rate/${app}`,
        rule: "errorRate",
        labels: { app },
        summary: `${app}: ${showPercent(rate)} of requests failed (5xx) over ${showMs(rules.errorRate.windowMs)}: ${err} of ${req} (threshold ${showPercent(rules.errorRate.above)})`,
        value: rate,
        holds: enough ? rate > rules.errorRate.above : false,
        forMs: rules.errorRate.forMs,
      });
    }
    if (rules.latencyP95) {
      const merged = addBuckets(per.flatMap((p) => (p.a.latency ? [p.a.latency] : [])));
      const count = merged.length ? merged[merged.length - 1]!.count : 0;
      const p95 = count ? histogramQuantile(0.95, merged) : NaN;
      out.push({
        key: `latency_p95/${app}`,
        rule: "latencyP95",
        labels: { app },
        summary: `${app}: 95th percentile response time ${Number.isFinite(p95) ? showMs(p95 * 1000) : "unknown"} over ${showMs(rules.latencyP95.windowMs)} (${count} requests; threshold ${showMs(rules.latencyP95.aboveMs)})`,
        ...(Number.isFinite(p95) ? { value: p95 } : {}),
        holds: !merged.length ? undefined : count >= rules.latencyP95.minRequests && Number.isFinite(p95) ? p95 * 1000 > rules.latencyP95.aboveMs : false,
        forMs: rules.latencyP95.forMs,
      });
    }
    if (rules.restarts) {
      const { by, total } = perInstance(per, "restarts");
      out.push({
        key: `restarts/${app}`,
        rule: "restarts",
        labels: { app },
        summary: `${app}: ${total} instance restart(s) within ${showMs(rules.restarts.withinMs)}${by.length ? ` (${by.map((b) => `${b.i} on ${b.machine} ×${b.n}`).join(", ")})` : ""}; threshold ${rules.restarts.above}`,
        value: total,
        holds: total > rules.restarts.above,
        forMs: 0,
      });
    }
    if (rules.oom) {
      const { by, total } = perInstance(per, "oomKills");
      out.push({
        key: `oom/${app}`,
        rule: "oom",
        labels: { app },
        summary: `${app}: ${total} process(es) killed for lack of memory within ${showMs(rules.oom.withinMs)}${by.length ? ` (${by.map((b) => `${b.i} on ${b.machine}`).join(", ")})` : ""}`,
        value: total,
        holds: total > 0,
        forMs: 0,
      });
    }
    if (rules.deployFailed && r.cfg.apps.includes(app)) {
      const last = r.facts
        .flatMap((f) => (f.lastCommand[app] ? [f.lastCommand[app]!] : []))
        .sort((a, b) => Date.parse(a.at) - Date.parse(b.at))
        .pop();
      if (last) {
        const bad = last.result === "failed" || last.result === "rolled back" || (last.action === "rollback" && last.result === "ok");
        const what = last.action === "rollback" && last.result === "ok" ? `rolled back to release ${last.release}` : `${last.action} of release ${last.release}: ${last.result}`;
        out.push({
          key: `deploy_failed/${app}`,
          rule: "deployFailed",
          labels: { app, release: String(last.release) },
          summary: `${app}: ${what}${last.by ? ` (by ${last.by})` : ""}${last.reason ? `: ${last.reason}` : ""}`,
          holds: bad,
          forMs: 0,
        });
      }
    }
  }
  if (rules.backupFailed) {
    // The newest run of each service over all machines (an app's volumes run on each of its machines).
    // A failure followed by a good run before a round saw it still fires: the newest failure holds for three
    // rounds after it (a target down for seconds is news too; a round may be late), then the good run resolves it.
    // How long ago is the backup machine's own reckoning (agoMs), so clocks that differ do not matter.
    const failureHoldsMs = 3 * (r.cfg.intervalMs ?? 10_000);
    const newest = new Map<string, { at: string; result: string; reason?: string; machine: string }>();
    const failed = new Map<string, { at: string; reason?: string; agoMs?: number; machine: string }>();
    for (const f of r.facts)
      for (const [app, b] of Object.entries(f.lastBackup ?? {})) {
        if (!newest.has(app) || newest.get(app)!.at < b.at) newest.set(app, { ...b, machine: f.machine });
        if (b.lastFailure && (!failed.has(app) || failed.get(app)!.at < b.lastFailure.at)) failed.set(app, { ...b.lastFailure, machine: f.machine });
      }
    for (const [app, b] of newest) {
      if (!r.cfg.apps.includes(app)) continue;
      const recent = failed.get(app);
      const bad = b.result !== "ok" ? b : recent && (recent.agoMs ?? r.now - Date.parse(recent.at)) < failureHoldsMs ? { ...recent, result: "failed" } : undefined;
      const shown = bad ?? b;
      out.push({
        key: `backup_failed/${app}`,
        rule: "backupFailed",
        labels: { app, machine: shown.machine },
        summary: bad ? `${app}: backup on ${bad.machine} at ${bad.at.slice(11, 19)}Z failed${bad.reason ? `: ${bad.reason}` : ""}` : `${app}: backup on ${b.machine} at ${b.at.slice(11, 19)}Z ok`,
        holds: bad !== undefined,
        forMs: 0,
      });
    }
  }
  for (const f of r.facts) {
    if (rules.disk)
      for (const d of f.disk)
        out.push({
          key: `disk/${f.machine}${d.path}`,
          rule: "disk",
          labels: { machine: f.machine, path: d.path },
          summary: `${f.machine}: disk of ${d.path} ${showPercent(d.used)} full (threshold ${showPercent(rules.disk.above)})`,
          value: d.used,
          holds: d.used > rules.disk.above,
          forMs: rules.disk.forMs,
        });
    if (rules.memory && f.memoryUsed !== undefined)
      out.push({
        key: `memory/${f.machine}`,
        rule: "memory",
        labels: { machine: f.machine },
        summary: `${f.machine}: memory ${showPercent(f.memoryUsed)} used (threshold ${showPercent(rules.memory.above)})`,
        value: f.memoryUsed,
        holds: f.memoryUsed > rules.memory.above,
        forMs: rules.memory.forMs,
      });
  }
  if (rules.certificate) {
    const byId = new Map<string, { hosts: string[]; on: { machine: string; notAfter?: string; failing?: { since?: string; error?: string } }[] }>();
    for (const f of r.facts)
      for (const c of f.certs ?? []) {
        const e = byId.get(c.id) ?? { hosts: c.hosts, on: [] };
        e.on.push({ machine: f.machine, ...(c.notAfter ? { notAfter: c.notAfter } : {}), ...(c.failing ? { failing: c.failing } : {}) });
        byId.set(c.id, e);
      }
    const limit = r.now + rules.certificate.days * 86_400_000;
    for (const [id, c] of [...byId].sort(([a], [b]) => byCodeUnit(a, b))) {
      const ending = c.on.filter((x) => x.notAfter && Date.parse(x.notAfter) < limit);
      const failing = c.on.filter((x) => x.failing);
      const soonest = ending.map((x) => x.notAfter!).sort()[0];
      const words = [
        ...(soonest ? [`${Date.parse(soonest) <= r.now ? "expired" : "expires"} ${day(soonest)} (on ${ending.map((x) => x.machine).join(", ")})`] : []),
        ...failing.map((x) => `renewal failing on ${x.machine}${x.failing!.since ? ` since ${minute(x.failing!.since)}` : ""}: ${x.failing!.error ?? "no error recorded"}`),
      ];
      out.push({
        key: `certificate/${c.hosts[0] ?? id}`,
        rule: "certificate",
        labels: { certificate: id, host: c.hosts[0] ?? "" },
        summary: words.length ? `${c.hosts.join(", ")}: ${words.join("; ")}` : `${c.hosts.join(", ")}: renewed, ends ${day(c.on.map((x) => x.notAfter ?? "").sort()[0] ?? "") || "later"}`,
        holds: words.length > 0,
        forMs: 0,
      });
    }
  }
  if (rules.machineDown)
    for (const m of r.cfg.machines) {
      // This machine is up (it evaluates); its peers may still have it down in the ledger from while it was not.
      const since = m.name === r.cfg.self ? undefined : r.missing[m.name];
      out.push({
        key: `machine_down/${m.name}`,
        rule: "machineDown",
        labels: { machine: m.name },
        summary: since !== undefined ? `${m.name}: unreachable by its peers since ${new Date(since).toISOString()} (its agent does not answer over the mesh)` : `${m.name}: reachable again`,
        holds: since !== undefined,
        forMs: rules.machineDown.forMs,
        ...(since !== undefined ? { since } : {}),
      });
    }
  return out;
}

/** The label that says whose facts a condition needs: a machine's own, or (app rules) everyone's. */
const machineOf = (a: Pick<ActiveAlert, "labels">) => a.labels.machine;

/**
 * The ledger after this round, and the events it made (already in the ledger's list). Version goes up only when
 * something changed, so peers copy only real news.
 */
export function evaluate(r: Round, ledger: Ledger, by: string): { ledger: Ledger; events: AlertEvent[] } {
  const conds = conditions(r);
  const active: Record<string, ActiveAlert> = {};
  const events: AlertEvent[] = [];
  const seen = new Set<string>();
  const event = (a: ActiveAlert, status: AlertEvent["status"], summary: string): AlertEvent => ({
    id: `${a.key}@${a.firedAt ?? r.now}:${status}`,
    key: a.key,
    rule: a.rule,
    status,
    at: r.now,
    summary,
    labels: a.labels,
    ...(a.value !== undefined ? { value: a.value } : {}),
    by,
    deliveries: r.cfg.receivers.map((x) => ({ receiver: receiverId(x), attempts: 0 })),
  });
  for (const c of conds) {
    seen.add(c.key);
    const was = ledger.active[c.key];
    if (c.holds === undefined) {
      if (was) active[c.key] = was;
      continue;
    }
    if (!c.holds) {
      // The resolved message carries the value now, not the one it fired with.
      if (was?.state === "firing") events.push(event({ ...was, ...(c.value !== undefined ? { value: c.value } : {}) }, "resolved", resolvedSummary(c, was, r.now)));
      continue;
    }
    const since = was?.since ?? c.since ?? r.now;
    const next: ActiveAlert = { key: c.key, rule: c.rule, labels: c.labels, summary: was?.state === "firing" ? was.summary : c.summary, ...(c.value !== undefined ? { value: c.value } : {}), state: was?.state ?? "pending", since, ...(was?.firedAt ? { firedAt: was.firedAt } : {}) };
    if (next.state === "pending" && r.now - since >= c.forMs) {
      next.state = "firing";
      next.firedAt = r.now;
      next.summary = c.summary;
      events.push(event(next, "firing", c.summary));
    }
    active[c.key] = next;
  }
  // Alerts no rule spoke of this round: kept while their machine is missing (unknown); else their subject is
  // gone (the app removed, the rule switched off, the machine left the project): resolved.
  for (const [key, was] of Object.entries(ledger.active)) {
    if (seen.has(key)) continue;
    const m = machineOf(was);
    // A machine's alert needs that machine's facts; an app's (no machine label), every machine's.
    const factsMissing = m !== undefined ? r.missing[m] !== undefined : r.facts.length < r.cfg.machines.length;
    const inProject = m === undefined || r.cfg.machines.some((x) => x.name === m);
    if (factsMissing && inProject && ruleOn(r, was.rule)) {
      active[key] = was;
      continue;
    }
    if (was.state === "firing") events.push(event(was, "resolved", `${was.summary.split(":")[0]}: no longer watched (${ruleOn(r, was.rule) ? "its subject is gone" : "the rule is off"})`));
  }
  const changed = events.length > 0 || stateOf(active) !== stateOf(ledger.active);
  if (!changed) return { ledger, events };
  return { ledger: { version: ledger.version + 1, by, active, events: bound([...ledger.events, ...events]) }, events };
}

const ruleOn = (r: Round, rule: AlertRuleName) => r.cfg.rules[rule] !== undefined;

/** What changes round to round without news (values, summaries of pending ones) is not worth a new version. */
function stateOf(a: Record<string, ActiveAlert>): string {
  return JSON.stringify(
    Object.entries(a)
      .sort(([x], [y]) => byCodeUnit(x, y))
      .map(([k, v]) => [k, v.state, v.since, v.firedAt]),
  );
}

/** What is true now, and how long it was firing. */
function resolvedSummary(c: Condition, was: ActiveAlert, now: number): string {
  return `${c.summary} (resolved after ${showMs(now - (was.firedAt ?? was.since))})`;
}

/** Most recent events kept; events still owed to a receiver are never dropped before the delivered ones. */
export const MAX_EVENTS = 300;
export function bound(events: AlertEvent[]): AlertEvent[] {
  if (events.length <= MAX_EVENTS) return events;
  const owed = (e: AlertEvent) => e.deliveries.some((d) => d.deliveredAt === undefined && !d.gaveUp);
  const keep = new Set(events.filter(owed).map((e) => e.id));
  const rest = events.filter((e) => !keep.has(e.id));
  const room = Math.max(0, MAX_EVENTS - keep.size);
  const kept = new Set([...keep, ...rest.slice(rest.length - room).map((e) => e.id)]);
  return events.filter((e) => kept.has(e.id));
}
