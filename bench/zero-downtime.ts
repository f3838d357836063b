// bench/zero-downtime: requests and failures per client — wrk keep-alive, wrk
// `Connection: close`, Node fetch (keep-alive) — while 10 deploys and 5
// rollbacks run back to back, then one bad release (crashes at boot) under the
// same load. Two more clients hold long-lived sessions open across the deploys:
// WebSocket sessions and long streaming (chunked) responses, and count how each
// one ended: closed cleanly (a close frame, the end of the response), reset, or
// still open; and whether new ones landed on the release just made active.
// Subjects side by side: skiff on 3 bed machines (Docker runtime, and
// the process runtime with the Node app), and PM2 cluster
// mode `reload` on this host with the same app in Node (PM2 has no rollback:
// a "rollback" is a reload with the previous version's env, as PM2 users do).
// Figures, not assertions. Load goes only to loopback.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startLoad } from "../src/load/load.ts";
import { bedConfig, up } from "../testbed/bed.ts";
import { NODE_BIN } from "../src/contracts/paths.ts";
import { makeProject } from "../test/e2e/helpers.ts";
import { formatSummary, holdSessions, summarize, Timeline, type SessionSummary } from "./clients/sessions.ts";
import { openStream } from "./clients/stream.ts";
import { openWebSocket } from "./clients/websocket.ts";

const DEPLOYS = Number(process.env.DEPLOYS ?? 10);
/** Long-lived sessions per kind (WebSocket, streaming response) held open at all times. */
const SESSIONS = Number(process.env.SESSIONS ?? 6);
const HELLO = new URL("../examples/hello", import.meta.url).pathname;
const HELLO_NODE = new URL("../examples/hello-node/server.js", import.meta.url).pathname;
/** The app's command: the machine's own node if it has one, else the Node that setup ships for the agent (setup
 *  no longer installs Debian's nodejs, so a fresh bed machine has no `node` on PATH). */
const RUN_NODE = `'exec "$(command -v node || echo ${NODE_BIN})" server.js'`;
const HELLO_NODE_DIR = new URL("../examples/hello-node", import.meta.url).pathname;

interface Counts {
  requests: number;
  failures: number;
  detail: string;
}

/** wrk until stopped (SIGINT makes it print its summary). */
function wrk(url: string, close: boolean): { stop: () => Promise<Counts> } {
  const args = ["-t1", "-c8", "-d600s", ...(close ? ["-H", "Connection: close"] : []), url];
  const p = spawn("wrk", args, { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  p.stdout.on("data", (b) => (out += b));
  return {
    stop: () =>
      new Promise((resolve) => {
        p.on("close", () => {
          const n = (re: RegExp) => out.match(re)?.slice(1).map(Number) ?? [];
          const [requests = 0] = n(/(\d+) requests in/);
          const sock = n(/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/);
          const [non2xx = 0] = n(/Non-2xx or 3xx responses: (\d+)/);
          const errs = sock.reduce((a, b) => a + b, 0);
          resolve({ requests, failures: errs + non2xx, detail: sock.length || non2xx ? `socket errors c/r/w/t ${sock.join("/") || "0/0/0/0"}, non-2xx ${non2xx}` : "" });
        });
        p.kill("SIGINT");
      }),
  };
}

function fetchLoad(urls: string[]): { stop: () => Promise<Counts> } {
  const l = startLoad({ urls, concurrency: 8, maxMs: 600_000 });
  return {
    stop: async () => {
      const r = await l.stop();
      return { requests: r.requests, failures: r.failures, detail: r.failures ? JSON.stringify(r.byStatus) : "" };
    },
  };
}

interface Subject {
  name: string;
  /** URL per client: wrk keep-alive, wrk close, the fetch client's list, and the base URLs of the session clients
   *  (/ws and /stream of the Node app; absent where the app has none). */
  urls: { keepAlive: string; close: string; fetch: string[]; sessions?: string[] };
  deploy(i: number): Promise<void>;
  rollback(i: number): Promise<void>;
  bad(): Promise<string>;
  teardown(): Promise<void>;
}

/** Runs one deploy/rollback/bad release; the timeline learns which release it leaves active. */
type Step = (run: () => Promise<unknown>, leavesActive: string) => Promise<void>;

interface Measured {
  ka: Counts;
  close: Counts;
  fetch: Counts;
  ws?: SessionSummary;
  stream?: SessionSummary;
  ms: number;
}

async function measure(s: Subject, active: string, steps: (step: Step) => Promise<void>): Promise<Measured> {
  const timeline = new Timeline();
  timeline.stepDone(active);
  const a = wrk(s.urls.keepAlive, false);
  const b = wrk(s.urls.close, true);
  const c = fetchLoad(s.urls.fetch);
  const ws = s.urls.sessions && holdSessions(s.urls.sessions, SESSIONS, openWebSocket);
  const st = s.urls.sessions && holdSessions(s.urls.sessions, SESSIONS, openStream);
  await new Promise((r) => setTimeout(r, 1000));
  const t0 = performance.now();
  await steps(async (run, leaves) => {
    timeline.stepStarted();
    await run();
    timeline.stepDone(leaves);
  });
  const ms = performance.now() - t0;
  await new Promise((r) => setTimeout(r, 1000));
  const [ka, close, fetch, wsOut, stOut] = await Promise.all([a.stop(), b.stop(), c.stop(), ws?.stop(), st?.stop()]);
  return { ka, close, fetch, ms, ws: wsOut && summarize(wsOut, timeline), stream: stOut && summarize(stOut, timeline) };
}

let bedReady: Awaited<ReturnType<typeof up>> | undefined;

/** skiff on 3 bed machines: the C app in Docker, or the Node app as processes (the process runtime). */
async function skiffSubject(runtime: "docker" | "process"): Promise<Subject> {
  bedReady ??= await up({ count: 3, fresh: true });
  const bed = bedReady;
  const p = makeProject(bed);
  const source =
    runtime === "docker"
      ? `build: { context: ${HELLO}, args: { VERSION: bench } }\n    port: 3000`
      : `run: ${RUN_NODE}\n    artifact: ${HELLO_NODE_DIR}`;
  const configure = (env: string) =>
    writeFileSync(
      join(p.dir, "skiff.yml"),
      bedConfig(bed, {
        project: `zd${runtime}`,
        extra: `apps:\n  web:\n    ${source}\n    instances: 6\n    health: { path: /healthz, interval: 200ms, deadline: 5s }\n    routes: [{ path: / }]\n    env: { ${env} }\n    deploy: { drain_timeout: 5s, stop_timeout: 5s, probation: 5s }\n`,
      }),
    );
  const run = async (args: string[], expectFail = false) => {
    const r = await p.skiff(args);
    if ((r.code === 0) === expectFail) throw new Error(`skiff ${args.join(" ")}: exit ${r.code}\n${r.stderr}`);
    return r;
  };
  configure("VERSION: v0");
  for (const a of [["machines", "trust", "--yes"], ["setup"], ["deploy"]]) await run(a);
  const url = (i: number) => `http://127.0.0.1:${bed.machines[i]!.httpPort}/`;
  return {
    name: runtime === "docker" ? "skiff (3 machines, Docker)" : "skiff (3 machines, process runtime, Node app)",
    urls: { keepAlive: url(0), close: url(1), fetch: [url(0), url(1), url(2)], sessions: runtime === "process" ? [url(0), url(1), url(2)] : undefined },
    deploy: async (i) => {
      configure(`VERSION: v${i}`);
      await run(["deploy"]);
    },
    rollback: async () => void (await run(["rollback"])),
    bad: async () => {
      configure("VERSION: bad, CRASH_AT_BOOT: \"1\"");
      const r = await run(["deploy"], true);
      return r.stderr.match(/failed on \w+: [^\n]*/)?.[0] ?? "deploy failed";
    },
    // The next subject uses the same machines and route: this app goes.
    teardown: async () => void (await run(["remove", "web", "--yes"])),
  };
}

async function pm2Subject(): Promise<Subject | undefined> {
  const home = mkdtempSync(join(tmpdir(), "skiff-pm2-"));
  const pm2 = join(home, "node_modules", ".bin", "pm2");
  const install = spawnSync("npm", ["install", "--prefix", home, "--no-audit", "--no-fund", "pm2@5"], { encoding: "utf8" });
  if (install.status !== 0) {
    console.error(`PM2 could not be installed from npm; skipping its rows:\n${install.stderr.slice(-500)}`);
    return undefined;
  }
  const port = 18200;
  const cfg = join(home, "ecosystem.config.cjs");
  writeFileSync(cfg, `module.exports = { apps: [{ name: "hello", script: ${JSON.stringify(HELLO_NODE)}, exec_mode: "cluster", instances: 2, env: { PORT: "${port}", VERSION: "v0" } }] };\n`);
  const env = { ...process.env, PM2_HOME: join(home, ".pm2") };
  const pm = (args: string[], extra: Record<string, string> = {}) => {
    const r = spawnSync(pm2, args, { env: { ...env, ...extra }, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`pm2 ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  };
  pm(["start", cfg]);
  await new Promise((r) => setTimeout(r, 1500));
  const url = `http://127.0.0.1:${port}/`;
  return {
    name: "PM2 cluster reload (2 workers, this host)",
    urls: { keepAlive: url, close: url, fetch: [url], sessions: [url] },
    deploy: async (i) => void pm(["reload", "hello", "--update-env"], { PORT: String(port), VERSION: `v${i}` }),
    rollback: async (i) => void pm(["reload", "hello", "--update-env"], { PORT: String(port), VERSION: `v${i - 1}` }),
    bad: async () => {
      const out = pm(["reload", "hello", "--update-env"], { PORT: String(port), VERSION: "bad", CRASH_AT_BOOT: "1" });
      await new Promise((r) => setTimeout(r, 3000));
      return /\[PM2\] \[hello\]\(\d+\) ✓/.test(out) || out.includes("✓") ? "pm2 reload reported success" : "pm2 reload reported failure";
    },
    teardown: async () => {
      spawnSync(pm2, ["kill"], { env });
    },
  };
}

function sessionLines(m: Measured): void {
  if (!m.ws || !m.stream) return console.log(`  WebSocket, streaming  n/a (the C app has no /ws or /stream; the Node app's rows show them)`);
  console.log(`  WebSocket sessions    ${formatSummary(m.ws)}`);
  console.log(`  streaming responses   ${formatSummary(m.stream)}`);
}

const fmt = (c: Counts) => `${String(c.requests).padStart(8)} req ${String(c.failures).padStart(6)} failed${c.detail ? ` (${c.detail})` : ""}`;

// Each subject is set up just before it runs (the two skiff subjects share the bed one after the other).
const only = (process.env.SUBJECTS ?? "docker,process,pm2").split(",");
const factories: [string, () => Promise<Subject | undefined>][] = [
  ["docker", () => skiffSubject("docker")],
  ["process", () => skiffSubject("process")],
  ["pm2", pm2Subject],
];

console.log(`bench/zero-downtime — ${DEPLOYS} deploys and ${DEPLOYS / 2} rollbacks back to back, then one release that crashes at boot`);
for (const [key, make] of factories) {
  if (!only.includes(key)) continue;
  const s = await make();
  if (!s) continue;
  // Release v<i> is deploy i; a rollback after deploy i returns to v<i-1>.
  let active = "v0";
  const good = await measure(s, active, async (step) => {
    for (let i = 1; i <= DEPLOYS; i++) {
      await step(() => s.deploy(i), (active = `v${i}`));
      if (i % 2 === 0) await step(() => s.rollback(i), (active = `v${i - 1}`));
    }
  });
  let badNote = "";
  const bad = await measure(s, active, async (step) => {
    await step(async () => (badNote = await s.bad()), active);
    await new Promise((r) => setTimeout(r, 3000));
  });
  await s.teardown();
  console.log(`\n${s.name}: ${DEPLOYS} deploys + ${DEPLOYS / 2} rollbacks in ${(good.ms / 1000).toFixed(1)} s`);
  console.log(`  wrk keep-alive        ${fmt(good.ka)}`);
  console.log(`  wrk Connection: close ${fmt(good.close)}`);
  console.log(`  Node fetch keep-alive ${fmt(good.fetch)}`);
  sessionLines(good);
  console.log(`  bad release (${badNote}):`);
  console.log(`  wrk keep-alive        ${fmt(bad.ka)}`);
  console.log(`  wrk Connection: close ${fmt(bad.close)}`);
  console.log(`  Node fetch keep-alive ${fmt(bad.fetch)}`);
  sessionLines(bad);
}
console.log(`
Docker Swarm (start-first): not measurable under the same load here. Its routing mesh (ingress) needs a
kernel module this VM lacks: a service published on :18300 refuses connections. With a host-mode
published port, a single node cannot run start-first at all: measured on this host, the update's new task
stayed Pending ("no suitable node (host-mode port already in use)") and the old one kept serving.`);
