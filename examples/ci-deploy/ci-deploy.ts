// A CI deploy step in TypeScript, on skiff's API alone: deploy, wait until
// every instance is healthy, run our own smoke check through a machine's
// HTTP port, and roll back if the smoke check fails.
//
// skiff's health check only asks "does the app answer /healthz?". A smoke
// check asks what this team cares about: here, that a path answers 200 with
// an expected text (a feature flag, a version, a greeting). A release can be
// healthy and still wrong; this step catches that and puts the previous
// release back, then fails the job.
//
//   npx tsx examples/ci-deploy/ci-deploy.ts --app web --smoke-url http://10.0.0.5/env/GREETING --expect hello \
//     [--config skiff.yml] [-e production]
//
// Exit codes: 0 deployed and smoke-checked; 1 deploy failed (skiff already put
// the previous release back), or smoke check failed and we rolled back;
// 2 bad input (the config, an option). Progress goes to stderr as skiff emits it.
import { Skiff, UserError, type OpenOptions, type SkiffEvent } from "skiff";

export interface CiDeployOptions {
  /** Where the project comes from (config path or object, environment, host settings). */
  open: OpenOptions;
  app: string;
  /** The URL the smoke check asks: an app path through a machine's HTTP port (HAProxy). */
  smokeUrl: string;
  /** Text the answer must contain. */
  expect: string;
  /** How long to wait for health after the deploy (default 60 s). */
  healthTimeoutMs?: number;
  log?: (line: string) => void;
}

export interface CiDeployOutcome {
  /** deployed: serving and smoke-checked; deploy-failed: skiff's own rollout failed (and undid itself);
   *  unhealthy / smoke-failed: we rolled back to the previous release. */
  result: "deployed" | "deploy-failed" | "unhealthy" | "smoke-failed";
  release?: number;
  rolledBackTo?: number;
  smoke?: { status: number; body: string } | { error: string };
}

/** The smoke check: status 200 and the expected text, within 5 s. */
export async function smokeCheck(url: string, expect: string): Promise<{ ok: boolean; status?: number; body?: string; error?: string }> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
    const body = await res.text();
    return { ok: res.status === 200 && body.includes(expect), status: res.status, body };
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
}

export async function ciDeploy(o: CiDeployOptions): Promise<CiDeployOutcome> {
  const log = o.log ?? ((l: string) => void process.stderr.write(l + "\n"));
  const skiff = await Skiff.open(o.open);
  skiff.on("event", (e: SkiffEvent) => {
    if (e.type === "note") log(`${e.machine ? `${e.machine}: ` : ""}${e.message}`);
    else if (e.type === "wave") log(`${e.app}: wave ${e.index}/${e.total} (${e.machines.join(", ")}): ${e.status}${e.ms !== undefined ? ` (${e.ms} ms)` : ""}`);
    else if (e.status !== "start") log(`${e.machine}: ${e.step}: ${e.status}${e.ms !== undefined ? ` (${e.ms} ms)` : ""}`);
  });

  const deployed = await skiff.deploy({ apps: [o.app] });
  const outcome = deployed.outcomes.find((a) => a.app === o.app);
  if (!deployed.ok || !outcome) {
    const r = outcome?.result;
    log(`deploy failed${r && "failure" in r && r.failure ? ` on ${r.failure.machine}: ${r.failure.reason}` : ""}; the previous release kept serving`);
    return { result: "deploy-failed" };
  }
  log(`release ${outcome.release} is live; waiting for health`);

  const health = await skiff.waitHealthy({ app: o.app, timeoutMs: o.healthTimeoutMs ?? 60_000 });
  const smoke = health.healthy ? await smokeCheck(o.smokeUrl, o.expect) : undefined;
  if (health.healthy && smoke?.ok) {
    log(`smoke check passed: ${o.smokeUrl} answered ${smoke.status}`);
    return { result: "deployed", release: outcome.release, smoke: { status: smoke.status!, body: smoke.body! } };
  }

  log(health.healthy ? `smoke check failed: ${o.smokeUrl} answered ${smoke?.error ?? `${smoke?.status} ${JSON.stringify(smoke?.body)}`}` : "not every instance became healthy in time");
  const back = await skiff.rollback({ apps: [o.app] });
  const to = back.outcomes.find((a) => a.app === o.app)?.to;
  log(back.ok ? `rolled back to release ${to}` : "rollback FAILED: look at `skiff status`");
  return {
    result: health.healthy ? "smoke-failed" : "unhealthy",
    release: outcome.release,
    rolledBackTo: back.ok ? to : undefined,
    smoke: smoke && (smoke.error !== undefined ? { error: smoke.error } : { status: smoke.status!, body: smoke.body! }),
  };
}

function arg(argv: string[], ...names: string[]): string | undefined {
  const i = argv.findIndex((a) => names.includes(a));
  return i >= 0 ? argv[i + 1] : undefined;
}

async function main(argv: string[]): Promise<number> {
  const app = arg(argv, "--app");
  const smokeUrl = arg(argv, "--smoke-url");
  const expect = arg(argv, "--expect");
  if (!app || !smokeUrl || expect === undefined) {
    process.stderr.write("usage: ci-deploy.ts --app APP --smoke-url URL --expect TEXT [--config FILE] [-e ENV]\n");
    return 2;
  }
  try {
    const out = await ciDeploy({ open: { config: arg(argv, "--config", "-c"), environment: arg(argv, "-e", "--env") }, app, smokeUrl, expect });
    process.stdout.write(JSON.stringify(out) + "\n");
    return out.result === "deployed" ? 0 : 1;
  } catch (e) {
    // A mistake in the config or the options: what, where, and a hint; no stack.
    if (e instanceof UserError) {
      process.stderr.write(`error: ${e.message}\n${e.diagnostics.map((d) => `  ${d.file}:${d.line}:${d.col}: ${d.message}\n`).join("")}${e.hint ? `hint: ${e.hint}\n` : ""}`);
      return e.exitCode;
    }
    throw e;
  }
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) process.exitCode = await main(process.argv.slice(2));
