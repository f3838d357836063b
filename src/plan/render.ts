// Pure: a plan as lines a person reads. One renderer for `skiff plan` and
// every --dry-run, so they cannot tell different stories about one plan.
import { formatChange } from "./diff.ts";
import { formatNameChange } from "./names.ts";
import { changeCount, type AppDeployPlan, type CertPlan, type MachineChange, type Plan } from "./model.ts";

const s = (n: number) => (n === 1 ? "" : "s");
const instances = (n: number) => `${n} instance${s(n)}`;

function machineLines(m: MachineChange, target: string, indent = "  "): string[] {
  if (!m.changes.length) return [`${indent}${m.machine}: release ${m.from}, no changes`];
  const head = `${indent}${m.machine}: ${m.from === null ? "nothing yet" : `release ${m.from}`} → ${target}: start ${instances(m.start)}${m.stop ? `, stop ${m.stop}` : ""}${m.start === 0 ? " (served by the other machines)" : ""}`;
  return [head, ...m.changes.map((c) => `${indent}  ${formatChange(c)}`)];
}

/** "rollout: m1 (canary) | m2, m3 (2 waves)": the canary is a first wave smaller than the next (see rolloutWaves). */
const batchLine = (b: string[][], canaryWaitMs = 0) => {
  const canary = b.length > 1 && b[0]!.length < b[1]!.length;
  const watch = canaryWaitMs > 0 ? `, watched ${canaryWaitMs % 1000 ? `${canaryWaitMs}ms` : `${canaryWaitMs / 1000}s`}` : "";
  return `  rollout: ${b.map((x, i) => `${x.join(", ")}${canary && i === 0 ? ` (canary${watch})` : ""}`).join(" | ")}${b.length > 1 ? ` (${b.length} waves, one after another)` : ""}`;
};

const DAY = 86_400_000;

/** "certificate for shop.example.com from the repo (expires 2027-01-31, in 62 days)"; under 30 days it says so. */
export function certLine(c: CertPlan, now = Date.now()): string {
  if (c.source === "acme") return acmeLine(c, now);
  const days = Math.floor((Date.parse(c.notAfter) - now) / DAY);
  return `  certificate for ${c.hosts.join(", ")} from the repo (${c.file}; expires ${c.notAfter.slice(0, 10)}, in ${days} day${s(days)}${days < 30 ? ": renew it soon" : ""})`;
}

/** "certificate for shop.example.com to issue over ACME (acme-v02.api.letsencrypt.org)", or what the machines serve. */
function acmeLine(c: Extract<CertPlan, { source: "acme" }>, now: number): string {
  const ca = c.directory.replace(/^https:\/\/([^/]+).*$/, "$1");
  const account = c.account ? `; ACME account key to make: ${c.account}` : "";
  if (c.issue) return `  certificate for ${c.hosts.join(", ")} to issue over ACME (${ca}${account})`;
  const until = c.served.map((x) => Date.parse(x.notAfter)).reduce((a, b) => Math.min(a, b));
  const left = Math.round((until - now) / 1000);
  const when = left >= 2 * 86_400 ? `${Math.floor(left / 86_400)} days` : `${left} s`;
  return `  certificate for ${c.hosts.join(", ")} over ACME (${ca}): served by ${c.served.map((x) => x.machine).join(", ")}, the first to expire in ${when}; the machines renew it`;
}

/** What stopping an accessory costs, said before anyone agrees to it. */
function accessoryLines(a: AppDeployPlan): string[] {
  const x = a.accessory;
  if (!x?.restarts) return [];
  const from = x.movesFrom?.join(", ");
  if (x.movesFrom && x.dataFollows === "postgres") return [`  moves from ${from} to ${x.machine}: ${a.app}.internal refuses connections from a last backup on ${from} (it stops there after it) until it serves on ${x.machine} with that backup restored; no write is lost; deploy asks for --yes`];
  if (x.movesFrom && x.dataFollows) return [`  moves from ${from} to ${x.machine}: a last backup on ${from} (it stops there after it), then it starts on ${x.machine} and the backup is restored into it; writes that reach ${a.app}.internal on ${x.machine} before the restore ends are lost (stop the apps that write first); deploy asks for --yes`];
  if (x.movesFrom) return [`  moves from ${x.movesFrom.join(", ")} to ${x.machine}: it stops there and starts on ${x.machine} with new, empty volumes (the old ones stay on ${x.movesFrom.join(", ")}; give it backups: and its data follows); deploy asks for --yes`];
  return [`  restarts: the running one stops, then the new release starts on the same volumes; ${a.app}.internal refuses connections meanwhile; deploy asks for --yes`];
}

function deployApp(a: AppDeployPlan): string[] {
  const changed = a.machines.some((m) => m.changes.length);
  const out = [`${a.app}${a.accessory ? ` (accessory on ${a.accessory.machine})` : ""}${a.image.note ? ` (${a.image.note})` : ""}`, ...(a.certs ?? []).map((c) => certLine(c)), ...accessoryLines(a)];
  if (!changed) return [...out, ...a.machines.flatMap((m) => machineLines(m, ""))];
  const target = a.release === "new" || !a.reused ? "new release" : `release ${a.release}`;
  out.push(...a.machines.flatMap((m) => machineLines(m, target)));
  const num = a.release === "new" ? "its number is chosen after the build" : a.reused ? `release ${a.release}, already stored` : `release ${a.release}`;
  out.push(`  release: ${num}; image ${a.image.ref}${a.image.build ? " (built first)" : ""}`);
  if (a.image.present) {
    // Only machines the app is placed on (and its hook's) get it: peers need none.
    const lacking = a.machines.map((m) => m.machine).filter((m) => ((a.placement[m] ?? 0) > 0 || a.hook?.machine === m) && !a.image.present!.includes(m));
    out.push(`  ship: ${lacking.length ? `to ${lacking.join(", ")}` : "nothing (every machine that runs it has it)"}`);
  }
  for (const n of a.names ?? []) out.push(`  ${formatNameChange(n)}`);
  if (a.hook) out.push(`  pre_deploy on ${a.hook.machine}: ${a.hook.command}`);
  out.push(batchLine(a.batches, a.canaryWaitMs));
  return out;
}

function footer(p: Plan): string {
  const n = changeCount(p);
  if (!n) return "plan: nothing to do";
  const fw = p.action === "deploy" ? (p.firewall?.length ?? 0) : 0;
  const certs = p.action === "deploy" ? p.apps.reduce((k, a) => k + (a.certs ?? []).filter((c) => c.source === "acme" && c.issue).length, 0) : 0;
  const what = `${n} change${s(n)} (app × machine${fw ? `; ${fw} of them a machine's firewall` : ""}${certs ? `; ${certs} ${certs === 1 ? "a certificate" : "certificates"} to issue` : ""})`;
  return `plan: ${what}; \`skiff ${p.action}\` applies ${n === 1 ? "it" : "them"}`;
}

export function renderPlan(p: Plan): string[] {
  const out: string[] = [];
  switch (p.action) {
    case "deploy":
      out.push(...p.apps.flatMap(deployApp));
      for (const f of p.firewall ?? []) out.push(`firewall on ${f.machine}: ${f.change}`);
      break;
    case "rollback":
      for (const a of p.apps) {
        const passed = a.passedOver?.length ? `; not ${a.passedOver.join(", ")}: rolled back from` : "";
        out.push(`${a.app} → release ${a.to}${a.chosen === "previous good" ? ` (the one that served before${passed})` : ""}`);
        out.push(...a.machines.flatMap((m) => machineLines(m, `release ${a.to}`)), ...(a.names ?? []).map((n) => `  ${formatNameChange(n)}`), batchLine(a.batches));
      }
      break;
    case "scale":
      for (const a of p.apps) {
        out.push(`${a.app}: ${a.from} → ${a.to} instances (${Object.entries(a.placement).map(([m, n]) => `${m}: ${n}`).join(", ")}), release ${a.release}${a.reused ? " (already stored)" : ""}`);
        out.push(...a.machines.flatMap((m) => machineLines(m, `release ${a.release}`)), batchLine(a.batches));
      }
      break;
    case "remove":
      for (const a of p.apps) {
        out.push(`${a.app}: removed from every machine (history stays)`);
        for (const m of a.machines) out.push(`  ${m.machine}: ${m.active === null && !m.releases.length ? "nothing there" : `stop ${instances(m.instances)}${m.active !== null ? ` of release ${m.active}` : ""}, delete release${s(m.releases.length)} ${m.releases.join(", ") || "(none)"}`}`);
        for (const n of a.names ?? []) out.push(`  ${formatNameChange(n)}`);
      }
      break;
  }
  if (p.skipped.length) out.push(`skipped (unreachable): ${p.skipped.join(", ")}`);
  out.push(footer(p));
  return out;
}
