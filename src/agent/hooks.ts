// The release's pre_deploy command in a one-off instance: waits for its exit
// (or the timeout), keeps its output, removes it, records the outcome.
import { randomBytes } from "node:crypto";
import type { ReleaseSpec } from "../contracts/model.ts";
import type { HookResult, RpcCheckedParams } from "../contracts/rpc.ts";
import type { Runtime } from "../runtime/types.ts";
import { isoAt, runtimeOf, type Machine } from "./effects.ts";
import { fence } from "./fence.ts";
import { baseStart, BIND } from "./instances.ts";

/** The hook.run call's parameters and its job's result, as contracts/rpc.ts defines them. */
export type HookParams = RpcCheckedParams<"hook.run">;
export type { HookResult };

export async function runHook(m: Machine, p: HookParams): Promise<HookResult> {
  // Not under the app mutex (a migration may take long, and changes no instance): fenced at its start.
  fence(m.store, p.project, p.holder);
  const t0 = m.fx.clock.now();
  const spec = m.store.release(p.project, p.app, p.release);
  if (!spec?.preDeploy) throw new Error(`release ${p.release} of ${p.app} has no pre_deploy hook on this machine`);
  if (spec.withheld) throw new Error(`release ${p.release} of ${p.app} is on this machine without its secrets (it runs none of the app here); the hook runs where the app runs`);
  const rt = runtimeOf(m, spec);
  const name = `skiff-${spec.project}-${spec.app}-${spec.release}-hook-${randomBytes(3).toString("hex")}`;
  let out: { code: number | null; output: string; reason?: string };
  try {
    out = await runOnce(m, rt, spec, name, p.machine, t0);
  } catch (e) {
    out = { code: null, output: "", reason: `pre_deploy could not start: ${(e as Error).message}` };
  } finally {
    await rt.remove(name).catch(() => {});
  }
  m.store.appendHistory({ at: isoAt(m), machine: p.machine, project: p.project, app: p.app, release: p.release, action: "pre_deploy", result: out.reason ? "failed" : "ok", reason: out.reason, deployId: p.deployId, by: p.by, durationMs: m.fx.clock.now() - t0, image: spec.image, commit: spec.git?.commit });
  m.log(`${p.app} release ${p.release}: pre_deploy ${out.reason ?? "ok"}`);
  return { ok: !out.reason, code: out.code, output: out.output, durationMs: m.fx.clock.now() - t0, reason: out.reason };
}

async function runOnce(m: Machine, rt: Runtime, spec: ReleaseSpec, name: string, machine: string, t0: number): Promise<{ code: number | null; output: string; reason?: string }> {
  const hook = spec.preDeploy!;
  await rt.start({ name, hostPort: 0, bindAddress: BIND, ...baseStart(m, spec, { SKIFF_MACHINE: machine, SKIFF_HOOK: "pre_deploy" }, { "skiff.hook": "pre_deploy" }), command: hook.command, oneOff: true });
  const until = t0 + hook.timeoutMs;
  let st = await rt.status(name);
  while (st.running && m.fx.clock.now() < until) {
    await m.fx.clock.sleep(200);
    st = await rt.status(name);
  }
  let code: number | null = null;
  let reason: string | undefined;
  if (st.running) {
    await rt.stop(name, spec.stopTimeoutS);
    reason = `pre_deploy did not finish within ${Math.round(hook.timeoutMs / 1000)}s and was stopped`;
  } else {
    code = st.exitCode;
    if (code !== 0) reason = `pre_deploy exited with code ${code ?? "?"}${st.oomKilled ? " (out of memory)" : ""}`;
  }
  return { code, output: await rt.logs(name, 200).catch(() => ""), reason };
}
