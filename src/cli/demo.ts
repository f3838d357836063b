// skiff demo: this machine becomes a skiff machine (through the same setup path
// as any other), runs the example app as processes with 2 instances, and shows
// a zero-downtime deploy under load, a rollback and the history.
// `skiff demo --down` removes what the demo made.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { AGENT_BIN, RUN_DIR, STATE_DIR } from "../contracts/paths.ts";
import { portFree } from "../lib/ports.ts";
import { loadProject } from "../config/load.ts";
import { UserError } from "../errors.ts";
import { agentClients, askAll } from "../transport/agent-client.ts";
import type { Project } from "../config/model.ts";
import { plainReporter } from "../contracts/events.ts";
import { Skiff } from "../api/skiff.ts";
import { settingsFromEnv } from "../settings.ts";
import { removeAgent, removePackages } from "../exec/remote-steps.ts";
import { startLoad } from "../load/load.ts";
import { runProcess } from "../transport/process.ts";
import { LocalTransport } from "../transport/local.ts";
import type { Ctx } from "./context.ts";
import { historyCommand } from "./history.ts";
import { renderError } from "./render-error.ts";

const PROJECT = "skiff-demo";
const APP = "hello";

export function demoDir(): string {
  return process.env.SKIFF_DEMO_DIR || join(process.env.XDG_STATE_HOME || join(homedir(), ".local", "state"), "skiff", "demo");
}

/** The example app, next to the bundled CLI (dist/../examples) or the sources (src/cli/../../examples). */
function exampleDir(): string {
  const candidates = [new URL("../examples/hello-node", import.meta.url), new URL("../../examples/hello-node", import.meta.url)].map((u) => fileURLToPath(u));
  const found = candidates.find((p) => existsSync(join(p, "server.js")));
  if (!found) throw new UserError("the example app (examples/hello-node) is missing from this skiff install");
  return found;
}

function demoConfig(port: number, version: string, example: string): string {
  return `# Written by \`skiff demo\`; \`skiff demo --down\` removes it and everything it made.
project: ${PROJECT}
machines:
  here: { host: local, http_port: ${port} }
apps:
  ${APP}:
    run: node server.js
    artifact: ${JSON.stringify(example)}
    instances: 2
    env: { VERSION: ${version} }
    routes: [{ path: / }]
    resources: { memory: 128M }
    health: { interval: 500ms }
    deploy: { drain_timeout: 5s, probation: 5s }
`;
}

interface Made {
  /** The demo installed the agent (none was here before), so --down removes it. */
  agent: boolean;
  /** apt packages the demo installed. */
  packages: string[];
  port: number;
}

/** Ports skiff's own HAProxy listens on, when it runs. */
function ourProxyPorts(): number[] {
  try {
    const pid = Number(readFileSync(join(RUN_DIR, "haproxy.pid"), "utf8").split("\n")[0]);
    process.kill(pid, 0);
    const st = JSON.parse(readFileSync(join(STATE_DIR, "proxy", "state.json"), "utf8")) as { httpPort: number; backends: { httpPort?: number }[] };
    return st.backends.map((b) => b.httpPort ?? st.httpPort);
  } catch {
    return [];
  }
}

async function canBeRoot(): Promise<boolean> {
  if (process.getuid?.() === 0) return true;
  return (await runProcess("sudo", ["-n", "true"]).catch(() => ({ code: 1 }))).code === 0;
}

export async function demoCommand(opts: { down?: boolean; port?: number }, out: (l: string) => void): Promise<number> {
  if (process.platform !== "linux") throw new UserError("skiff demo runs on Linux (it makes this machine a skiff machine)", { hint: "try it in a Debian or Ubuntu VM or container" });
  if (!(await canBeRoot())) {
    throw new UserError("skiff demo needs root: it installs HAProxy (apt) and the skiff agent under /var/lib/skiff on this machine", { hint: "run `sudo skiff demo` (or as root); `skiff demo --down` removes it all again" });
  }
  return opts.down ? down(out) : up(opts.port ?? 80, out);
}

/** The API over the demo's project, rendering its events as the CLI does. */
function skiffOver(project: Project, reporter = plainReporter()): Skiff {
  return new Skiff(project, { settings: settingsFromEnv(process.env), onEvent: (e) => reporter.emit(e) });
}

async function up(port: number, out: (l: string) => void): Promise<number> {
  const dir = demoDir();
  mkdirSync(dir, { recursive: true });
  const file = join(dir, "skiff.yml");
  const example = exampleDir();
  const madeFile = join(dir, "made.json");
  const made: Made = existsSync(madeFile) ? (JSON.parse(readFileSync(madeFile, "utf8")) as Made) : { agent: !existsSync(AGENT_BIN), packages: [], port };
  if (!ourProxyPorts().includes(port) && !(await portFree(port))) {
    throw new UserError(`port ${port} is already in use on this machine`, { hint: `pick another one: skiff demo --port 8080` });
  }
  made.port = port;
  writeFileSync(file, demoConfig(port, "v1", example));
  writeFileSync(madeFile, JSON.stringify(made, null, 2));
  const reporter = plainReporter();
  let project = loadProject({ file });
  const ctx: Ctx = { project, json: false, reporter, out };

  out(`skiff demo: this machine becomes a skiff machine; the example app runs as processes (no Docker).\n  config: ${file}\n`);
  out("1. setup (HAProxy, Node, the skiff agent — the same path as any machine)");
  const [setup] = await skiffOver(project, reporter).setup({ machines: ["here"] });
  if (setup) {
    made.packages = [...new Set([...made.packages, ...setup.packages])];
    writeFileSync(madeFile, JSON.stringify(made, null, 2));
  }
  if (setup?.cause) throw setup.cause;
  if (setup?.problems.length) throw new UserError(`this machine cannot be set up: ${setup.problems.join("; ")}`);

  const url = `http://127.0.0.1:${port}/`;
  out(`\n2. deploy v1 (2 instances)`);
  const first = await skiffOver(project, reporter).deploy({ apps: [APP] });
  if (!first.ok) throw new UserError("the first deploy failed (see above)");
  out(`   serving at ${url}  →  ${(await (await fetch(url)).text()).trim()}`);

  out(`\n3. deploy v2 while a load client sends requests`);
  writeFileSync(file, demoConfig(port, "v2", example));
  project = loadProject({ file });
  const load = startLoad({ urls: [url], concurrency: 4 });
  const skiff = skiffOver(project, reporter);
  const second = await skiff.deploy({ apps: [APP] });
  await new Promise((r) => setTimeout(r, 500));
  const res = await load.stop();
  const versions = Object.entries(res.versions).map(([v, n]) => `${v}: ${n}`).join(", ");
  out(`   ${res.requests} requests, ${res.failures} failed (${versions})`);
  for (const s of res.samples.slice(0, 5)) out(`   failed at ${s.t.toFixed(1)}s: ${s.what}`);
  if (!second.ok) throw new UserError("the second deploy failed (see above)");

  out(`\n4. rollback to v1 (image and config, as one release)`);
  const back = await skiff.rollback({ apps: [APP] });
  if (!back.ok) throw new UserError("the rollback failed (see above)");
  out(`   ${url}  →  ${(await (await fetch(url)).text()).trim()}`);

  out(`\n5. history`);
  await historyCommand({ ...ctx, project }, APP, { limit: 10 });

  // The commands as this skiff was started (a checkout has no `skiff` on PATH).
  const me = process.argv[1] && !/(^|\/)skiff$/.test(process.argv[1]) ? `node ${process.argv[1]}` : "skiff";
  out(`\nThe app keeps running at ${url}`);
  out(`  ${me} -c ${file} status    what runs where`);
  out(`  ${me} demo --down    remove everything the demo made`);
  return res.failures === 0 ? 0 : 1;
}

async function down(out: (l: string) => void): Promise<number> {
  const dir = demoDir();
  const file = join(dir, "skiff.yml");
  if (!existsSync(file)) {
    out(`skiff demo --down: nothing to remove (no demo at ${dir})`);
    return 0;
  }
  const made: Made = existsSync(join(dir, "made.json")) ? (JSON.parse(readFileSync(join(dir, "made.json"), "utf8")) as Made) : { agent: false, packages: [], port: 80 };
  const project = loadProject({ file });
  const here = new LocalTransport(project.machines.here!);
  let othersLeft = false;
  if (existsSync(AGENT_BIN)) {
    const [c] = agentClients(project);
    try {
      const r = await c!.call<{ removed: number }>("app.remove", { project: PROJECT, app: APP });
      out(`removed the app (${r.removed} instance(s), its releases and HAProxy backend)`);
      const st = (await askAll(project, (x) => x.call<{ apps: { project: string }[] }>("state")))[0];
      othersLeft = st?.ok ? st.value.apps.length > 0 : false;
    } catch (e) {
      renderError(e, false);
    } finally {
      c!.close();
    }
  }
  if (made.agent && !othersLeft) {
    const cmd = removeAgent();
    await here.run(cmd.argv, { step: "remove the skiff agent", timeoutMs: cmd.timeoutMs });
    out("removed the skiff agent, its HAProxy and /var/lib/skiff (the demo had installed them)");
  } else if (made.agent) out("kept the skiff agent: other apps run on it");
  if (made.packages.length && !othersLeft) {
    const cmd = removePackages(made.packages);
    await here.run(cmd.argv, { step: `remove ${made.packages.join(", ")}`, timeoutMs: cmd.timeoutMs });
    out(`removed the packages the demo installed: ${made.packages.join(", ")}`);
  }
  rmSync(dir, { recursive: true, force: true });
  out("skiff demo: removed");
  return 0;
}
