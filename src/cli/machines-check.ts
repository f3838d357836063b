// skiff machines check (alias: doctor): what each machine has, in one round trip each.
import { skiffFor, type Ctx } from "./context.ts";
import { table } from "./table.ts";

import type { CheckRow } from "../api/machines.ts";

export type { CheckRow };

const gb = (kb: number) => `${(kb / 1024 / 1024).toFixed(1)}G`;
const count = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(0)}k` : String(n));

/** skiff's nftables table as the agent keeps it: applied (to how many machine addresses), off, none or failed. */
function firewall(f: NonNullable<CheckRow["facts"]>): string {
  const fw = f.firewall;
  if (!fw) return f.agent ? "unknown" : "-";
  return fw.state === "applied" ? `on (${fw.addresses.length} addr)` : fw.state;
}

export async function checkCommand(ctx: Ctx, names: string[]): Promise<number> {
  const rows = await skiffFor(ctx).machines.check(names);
  if (ctx.json) ctx.out(JSON.stringify(rows.map(({ ms, ...r }) => ({ ...r, ms }))));
  else {
    const body = rows.map((r) => {
      const f = r.facts;
      if (!f) return [r.machine, "no", "-", "-", "-", "-", "-", "-", "-", "-", "-", "-"];
      const docker = f.docker ? (f.docker.server ?? `${f.docker.client} (not running)`) : "missing";
      const agent = f.agent ? `${f.agent.version} (${f.agent.sha256.slice(0, 8)})` : "not running";
      const inodes = f.disk.inodesTotal ? `${count(f.disk.inodesFree)}/${count(f.disk.inodesTotal)}` : "-";
      // The Node the agent runs on (what it says), else the one it would find.
      const node = f.agent?.node ?? (f.node ? `${f.node.version} (not running)` : "missing");
      return [r.machine, "yes", `${f.os.name}`, f.arch, `${gb(f.disk.freeKb)}/${gb(f.disk.totalKb)}`, inodes, `${gb(f.memory.availKb)}/${gb(f.memory.totalKb)}`, docker, f.haproxy ?? "missing", node, agent, firewall(f)];
    });
    ctx.out(table(["MACHINE", "REACHABLE", "OS", "ARCH", "DISK FREE", "INODES FREE", "MEM FREE", "DOCKER", "HAPROXY", "NODE", "AGENT", "FIREWALL"], body));
    for (const r of rows) if (r.facts?.firewall?.error) process.stderr.write(`${r.machine}: firewall: ${r.facts.firewall.error}\n`);
    for (const r of rows) for (const w of r.warnings) process.stderr.write(`${r.machine}: warning: ${w} under /var/lib/skiff — a deploy may fail with "No space left on device"; prune old releases (lower keep_releases) or grow the disk\n`);
    for (const r of rows.filter((x) => x.error)) {
      process.stderr.write(`\n${r.error!.message}\n${r.error!.hint ? `hint: ${r.error!.hint}\n` : ""}`);
    }
    const notReady = rows.filter((r) => r.reachable && !r.ready).map((r) => r.machine);
    if (notReady.length) ctx.out(`\nnot set up yet: ${notReady.join(", ")} — run \`skiff setup ${notReady.join(" ")}\``);
  }
  return rows.every((r) => r.reachable) ? 0 : 1;
}
