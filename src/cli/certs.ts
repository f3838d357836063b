// skiff certs [status] | rotate [machine…]: the mesh's machine certificates.
import { skiffFor, type Ctx } from "./context.ts";

export async function certsCommand(ctx: Ctx, action: "status" | "rotate", opts: { machines?: string[] }): Promise<number> {
  const skiff = skiffFor(ctx);
  if (action === "rotate") {
    const res = await skiff.certs.rotate({ machines: opts.machines?.length ? opts.machines : undefined });
    if (ctx.json) for (const r of res) ctx.out(JSON.stringify(r));
    else ctx.out(`certs: ${res.length} machine certificate(s) rotated, loaded live`);
    return 0;
  }
  const s = await skiff.certs.status();
  if (ctx.json) {
    ctx.out(JSON.stringify(s));
    return s.warnings.length ? 1 : 0;
  }
  ctx.out(s.ca ? `CA: ${s.ca.subject.replace(/\n/g, ", ")}, valid until ${s.ca.notAfter.slice(0, 10)} (${s.ca.file})` : "CA: none yet");
  for (const m of s.machines) {
    if (!m.reachable) ctx.out(`${m.machine}: unreachable: ${m.error?.split("\n")[0]}`);
    else if (!m.cert) ctx.out(`${m.machine}: no certificate`);
    else ctx.out(`${m.machine}: valid until ${m.cert.notAfter.slice(0, 10)}${m.problem ? ` — ${m.problem}` : ""}`);
  }
  for (const w of s.warnings) process.stderr.write(`warning: ${w}\n`);
  return s.warnings.length ? 1 : 0;
}
