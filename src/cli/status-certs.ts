// The certificates section of `skiff status` (pure): one row per certificate
// (a host the machines serve differently gets a row per version), then a
// warning line for each thing worth a look, and a note where machines differ.
import { certGroups, day, disagreements, expiresIn, type TlsStatus } from "../api/cert-status.ts";
import { isUnreachable, type MachineState } from "../api/status.ts";
import { table } from "./table.ts";

const kindOf = (f: TlsStatus, now: number) => {
  if (f.kind === "repo") return "repo";
  const due = f.auto?.dueAt;
  const parts = [f.orderedBy ? `ordered by ${f.orderedBy}` : "", due ? (Date.parse(due) <= now ? "renewal due" : `renews from ${day(due)}`) : ""].filter(Boolean);
  return parts.length ? `auto (${parts.join("; ")})` : "auto";
};

export function renderCerts(machines: MachineState[], now: number): string[] {
  const answered = machines.flatMap((m) => (isUnreachable(m) ? [] : [m]));
  const status = new Map(answered.map((m) => [m.machine, m.tls] as const));
  const groups = certGroups(status);
  if (!groups.length) return [];
  const rows = groups.map((g) => [g.hosts.join(", "), g.facts.cert ? expiresIn(g.facts.cert.notAfter, now) : "none served", kindOf(g.facts, now), g.facts.cert?.issuer ?? "-", g.machines.join(", ")]);
  const out = [table(["CERTIFICATE", "EXPIRES", "KIND", "ISSUER", "MACHINES"], rows)];
  // The same warning on several machines (an expiry they share) is one line naming them all.
  const warnings = new Map<string, string[]>();
  for (const [machine, list] of status)
    for (const f of list ?? [])
      for (const w of f.warnings) {
        const key = `${f.hosts.join(", ")}\n${w}`;
        warnings.set(key, [...(warnings.get(key) ?? []), machine]);
      }
  for (const [key, on] of warnings) {
    const [hosts, w] = key.split("\n");
    out.push(`warning: ${hosts} on ${on.join(", ")}: ${w}`);
  }
  for (const d of disagreements(groups)) out.push(`note: ${d}`);
  const unknown = answered.filter((m) => !m.tls).map((m) => m.machine);
  if (unknown.length) out.push(`note: ${unknown.join(", ")}: certificates unknown (the agent does not report them; \`skiff setup\` updates it)`);
  return out;
}
