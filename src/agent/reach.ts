// `skiff-agent exec` and `skiff-agent run` (skiff exec, skiff run): short-lived
// commands the CLI starts over ssh (with -t for a terminal), so the command's
// stdio is the ssh session's and its exit code is ssh's. They read the app's
// state from the machine's files; the env and secrets they hand the command
// never leave the machine.
//
// exec: a command in a running instance (Docker: the Engine's exec; a process:
// process-exec.ts). run: a one-off instance of the active release, made the way
// the pre_deploy hook makes one (baseStart: image or artifact, env, secrets,
// files, volumes, limits), attached to, and removed after, whatever ends it.
import { spawn, type ChildProcess, type StdioOptions } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Writable } from "node:stream";
import { commandLine } from "../lib/quote.ts";
import { parseReachArgs, type ReachArgs, type ReachVerb } from "../contracts/reach.ts";
import { DockerRuntime } from "../runtime/docker.ts";
import { execCgroups, execEnvScript, execScript, makeExecCgroups, readExecTarget, removeExecCgroups } from "../runtime/process-exec.ts";
import { ProcessRuntime } from "../runtime/process.ts";
import { SYSTEM_ENV, systemBin } from "../runtime/system.ts";
import { baseStart, BIND } from "./instances.ts";
import { Store } from "./store.ts";

const stdio = (a: ReachArgs, extra: StdioOptions = []): StdioOptions => [a.stdin ? "inherit" : "ignore", "inherit", "inherit", ...(extra as unknown[])] as StdioOptions;

/** The exit code of a child as a shell reports it. */
function exited(child: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    child.on("error", (e) => {
      process.stderr.write(`skiff-agent: ${e.message}\n`);
      resolve(127);
    });
    child.on("close", (code, signal) => resolve(code ?? 128 + (signal ? (({ SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 }) as Record<string, number>)[signal] ?? 0 : 0)));
  });
}

/**
 * Calls `end` once when the CLI is gone or we are told to stop: a hangup or TERM, or (without --stdin) the end of
 * the stdin the CLI holds open. Ctrl-C on a terminal reaches the command itself (it shares our process group); we
 * outlive it to clean up.
 */
function onGone(a: ReachArgs, end: () => void): void {
  let done = false;
  const once = () => void (done || ((done = true), end()));
  process.on("SIGINT", () => {});
  process.on("SIGHUP", once);
  process.on("SIGTERM", once);
  if (!a.stdin) {
    process.stdin.on("end", once).on("close", once).on("error", once);
    process.stdin.resume();
  }
}

async function exec(stateDir: string, a: ReachArgs): Promise<number> {
  const st = new Store(stateDir).state(a.project, a.app);
  const inst = [...st.instances, ...st.warm].find((i) => i.name === a.instance);
  if (!inst) {
    process.stderr.write(`skiff-agent: ${a.app} has no instance ${a.instance} here (running: ${st.instances.map((i) => i.name).join(", ") || "none"})\n`);
    return 125;
  }
  if ((inst.runtime ?? "docker") === "docker") {
    const child = spawn(systemBin("docker"), ["exec", ...(a.stdin ? ["-i"] : []), ...(a.tty ? ["-t"] : []), "--", inst.name, ...a.command], { stdio: stdio(a), env: SYSTEM_ENV });
    onGone(a, () => child.kill("SIGTERM"));
    return exited(child);
  }
  const target = readExecTarget(stateDir, inst.name);
  const cgroups = makeExecCgroups(execCgroups(target, String(process.pid)));
  try {
    // Without a terminal it leads a group of its own, so that the end of the session reaches whatever it started.
    const child = spawn("/bin/sh", ["-c", execScript(target, cgroups), "sh", ...a.command], { cwd: "/", env: SYSTEM_ENV, detached: !a.tty, stdio: stdio(a, ["pipe"]) });
    (child.stdio[3] as Writable).on("error", () => {}).end(execEnvScript(target.env));
    onGone(a, () => {
      try {
        process.kill(a.tty ? child.pid! : -child.pid!, "SIGHUP");
      } catch {}
    });
    return await exited(child);
  } finally {
    await removeExecCgroups(cgroups);
  }
}

async function run(stateDir: string, a: ReachArgs): Promise<number> {
  const store = new Store(stateDir);
  const active = store.state(a.project, a.app).active;
  const spec = active === null ? undefined : store.release(a.project, a.app, active);
  if (!spec) return refuse(`${a.app} has no active release on this machine`);
  if (spec.withheld) return refuse(`release ${spec.release} of ${a.app} is here without its secrets (this machine runs none of it): run it where the app runs`);
  const name = a.name!;
  const start = { name, hostPort: 0, bindAddress: BIND, ...baseStart({ store }, spec, { SKIFF_MACHINE: a.machine ?? "", SKIFF_INSTANCE: name }, { "skiff.run": "1" }), command: commandLine(a.command), oneOff: true };
  const kind = spec.runtime ?? "docker";
  const rt = kind === "docker" ? new DockerRuntime() : new ProcessRuntime(stateDir);
  let removing: Promise<void> | undefined;
  const remove = () => (removing ??= rt.remove(name).catch((e: Error) => void process.stderr.write(`skiff-agent: removing ${name}: ${e.message}\n`)));
  onGone(a, () => void remove());
  try {
    if (rt instanceof ProcessRuntime) return await rt.runAttached(start, { stdin: a.stdin, tty: a.tty });
    await rt.start({ ...start, attach: { stdin: a.stdin, tty: a.tty } });
    const child = spawn(systemBin("docker"), ["start", "-a", ...(a.stdin ? ["-i"] : []), "--", name], { stdio: stdio(a), env: SYSTEM_ENV });
    return await exited(child);
  } catch (e) {
    return refuse(`${name} could not start: ${(e as Error).message}`);
  } finally {
    await remove();
    if (rt instanceof DockerRuntime) rt.watch.close();
  }
}

/** A one-off whose CLI went away without a word (skiff run's Ctrl-C handler calls this too). */
async function runStop(stateDir: string, a: ReachArgs): Promise<number> {
  const name = a.name!;
  const rt = existsSync(join(stateDir, "instances", name)) ? new ProcessRuntime(stateDir) : new DockerRuntime();
  await rt.remove(name);
  return 0;
}

function refuse(message: string): number {
  process.stderr.write(`skiff-agent: ${message}\n`);
  return 125;
}

export async function reach(verb: ReachVerb, args: string[], stateDir: string): Promise<number> {
  const a = parseReachArgs(verb, args);
  if (verb === "exec") return exec(stateDir, a);
  if (verb === "run") return run(stateDir, a);
  return runStop(stateDir, a);
}
