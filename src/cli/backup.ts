// skiff backup run|list|restore|verify NAME: backups of an accessory or an app's volumes (skiff.yml `backups:`).
import { UserError } from "../errors.ts";
import { skiffFor, type Ctx } from "./context.ts";
import { table } from "./table.ts";

const ACTIONS = ["run", "list", "restore", "verify"] as const;
export type BackupAction = (typeof ACTIONS)[number];

export function backupAction(action: string): BackupAction {
  const a = ACTIONS.find((x) => x === action);
  if (!a) throw new UserError(`unknown backup action "${action}"`, { hint: `one of: ${ACTIONS.join(", ")}` });
  return a;
}

const mb = (n?: number) => (n === undefined ? "-" : n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} kB` : `${n} bytes`);

export async function backupCommand(makeCtx: () => Promise<Ctx>, action: BackupAction, name: string, o: { snapshot?: string; into?: string; yes?: boolean }): Promise<number> {
  const ctx = await makeCtx();
  const skiff = skiffFor(ctx);
  switch (action) {
    case "run": {
      const r = await skiff.backups.run(name);
      if (ctx.json) return ctx.out(JSON.stringify(r)), r.every((x) => x.ok) ? 0 : 1;
      for (const x of r) ctx.out(x.ok ? `${name} on ${x.machine}: snapshot ${x.snapshot!.slice(0, 8)}, ${mb(x.bytes)} read, ${mb(x.added)} added, ${(x.durationMs / 1000).toFixed(1)}s${x.forgot ? `; ${x.forgot} old snapshot(s) removed by the policy` : ""}` : `${name} on ${x.machine}: FAILED: ${x.reason}`);
      return r.every((x) => x.ok) ? 0 : 1;
    }
    case "list": {
      const list = await skiff.backups.list(name);
      if (ctx.json) return ctx.out(JSON.stringify(list)), 0;
      ctx.out(list.length ? table(["SNAPSHOT", "TIME", "MACHINE", "PATHS"], list.map((s) => [s.id.slice(0, 8), s.time.slice(0, 19).replace("T", " "), s.host, s.paths.join(" ")])) : `${name}: no backups yet`);
      return 0;
    }
    case "restore": {
      const what = o.snapshot ? `snapshot ${o.snapshot}` : "its newest backup";
      if (!o.yes) throw new UserError(o.into ? `this replaces ${o.into}'s data with ${name}'s ${what}` : `this replaces ${name}'s live data with ${what} (a backup of what is there now is made first)`, { hint: `run again with --yes: skiff backup restore ${name}${o.snapshot ? ` --snapshot ${o.snapshot}` : ""}${o.into ? ` --into ${o.into}` : ""} --yes` });
      const r = await skiff.backups.restore(name, { snapshot: o.snapshot, into: o.into });
      if (ctx.json) return ctx.out(JSON.stringify(r)), r.restored.every((x) => x.ok) ? 0 : 1;
      for (const b of r.before) ctx.out(`${name} on ${b.machine}: backed up first as ${b.snapshot?.slice(0, 8)}`);
      const target = o.into ?? name;
      for (const x of r.restored) ctx.out(x.ok ? `${target} on ${x.machine}: restored ${o.into ? `${name}'s ` : ""}snapshot ${x.snapshot!.slice(0, 8)} in ${(x.durationMs / 1000).toFixed(1)}s` : `${target} on ${x.machine}: restore FAILED: ${x.reason}`);
      return r.restored.every((x) => x.ok) ? 0 : 1;
    }
    case "verify": {
      const r = await skiff.backups.verify(name, { snapshot: o.snapshot });
      if (ctx.json) return ctx.out(JSON.stringify(r)), r.every((x) => x.ok) ? 0 : 1;
      for (const x of r) {
        if (!x.ok) ctx.out(`${name} on ${x.machine}: verify FAILED: ${x.reason}`);
        else if (x.tables) ctx.out(`${name} on ${x.machine}: snapshot ${x.snapshot!.slice(0, 8)} reads back whole (${mb(x.bytes)}); rows: ${Object.entries(x.tables).map(([t, n]) => `${t} ${n}`).join(", ") || "no tables"}`);
        else ctx.out(`${name} on ${x.machine}: snapshot ${x.snapshot!.slice(0, 8)} reads back whole: ${x.files} files, ${mb(x.bytes)}`);
      }
      return r.every((x) => x.ok) ? 0 : 1;
    }
  }
}
